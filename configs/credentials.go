package configs

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/otaudit/otaudit"
)

// SNMPv3 protocol names as gosnmp spells them. The AES…C variants are the
// Cisco ("Blumenthal" vs "Reeder") key-extension flavours gosnmp supports.
var (
	snmpAuthProtocols = []string{"MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}
	snmpPrivProtocols = []string{"DES", "AES", "AES192", "AES256", "AES192C", "AES256C"}
)

// minUSMPasswordLength is RFC 3414's minimum for USM passwords; agents
// refuse shorter ones, so a short one here is a guaranteed login failure.
const minUSMPasswordLength = 8

func (d *configDecoder) credentials(n *yaml.Node, field string, c *CredentialsConfig) {
	d.redact = true
	defer func() { d.redact = false }()
	d.mapping(n, field, map[string]fieldHandler{
		"snmp": func(n *yaml.Node, f string) {
			d.mapping(n, f, map[string]fieldHandler{
				"communities": func(n *yaml.Node, f string) {
					c.SNMP.Communities = []otaudit.Secret{}
					d.sequence(n, f, func(e *yaml.Node, ef string) {
						s := d.secret(e, ef)
						if s.IsZero() {
							if r := d.resolve(e, ef); r != nil && r.Kind == yaml.ScalarNode {
								d.problemAt(r, ef, "empty community")
							}
							return
						}
						c.SNMP.Communities = append(c.SNMP.Communities, s)
					})
				},
				"v3_users": func(n *yaml.Node, f string) {
					d.sequence(n, f, func(e *yaml.Node, ef string) {
						if u, ok := d.snmpV3User(e, ef); ok {
							for _, prev := range c.SNMP.V3Users {
								if prev.Name == u.Name {
									d.problemAt(d.resolve(e, ef), joinField(ef, "name"), "user %q listed twice", u.Name)
									return
								}
							}
							c.SNMP.V3Users = append(c.SNMP.V3Users, u)
						}
					})
				},
			})
		},
		"opcua": func(n *yaml.Node, f string) {
			d.mapping(n, f, map[string]fieldHandler{
				"users": func(n *yaml.Node, f string) {
					d.sequence(n, f, func(e *yaml.Node, ef string) {
						var u OPCUAUser
						e = d.resolve(e, ef)
						seen := d.mapping(e, ef, map[string]fieldHandler{
							"username": func(n *yaml.Node, f string) { u.Username = d.str(n, f) },
							"password": func(n *yaml.Node, f string) { u.Password = d.secret(n, f) },
						})
						if seen == nil {
							return
						}
						if u.Username == "" {
							d.problemAt(keyOr(seen["username"], e), joinField(ef, "username"), "required")
							return
						}
						c.OPCUA.Users = append(c.OPCUA.Users, u)
					})
				},
			})
		},
	})
}

func (d *configDecoder) snmpV3User(n *yaml.Node, field string) (SNMPv3User, bool) {
	before := len(d.problems)
	entry := d.resolve(n, field)
	var u SNMPv3User
	var authNode, privNode *yaml.Node
	protocol := func(n *yaml.Node, f string, known []string) string {
		p := strings.ToUpper(d.str(n, f))
		if p == "" {
			return ""
		}
		for _, k := range known {
			if p == k {
				return p
			}
		}
		d.problemAt(d.resolve(n, f), f, "unknown protocol %q (want one of %s)", p, strings.Join(known, ", "))
		return ""
	}
	seen := d.mapping(entry, field, map[string]fieldHandler{
		"name": func(n *yaml.Node, f string) { u.Name = d.str(n, f) },
		"auth_protocol": func(n *yaml.Node, f string) {
			u.AuthProtocol = protocol(n, f, snmpAuthProtocols)
		},
		"auth_password": func(n *yaml.Node, f string) {
			authNode = d.resolve(n, f)
			u.AuthPassword = d.secret(n, f)
		},
		"priv_protocol": func(n *yaml.Node, f string) {
			u.PrivProtocol = protocol(n, f, snmpPrivProtocols)
		},
		"priv_password": func(n *yaml.Node, f string) {
			privNode = d.resolve(n, f)
			u.PrivPassword = d.secret(n, f)
		},
	})
	if seen == nil {
		return u, false
	}
	if u.Name == "" {
		d.problemAt(keyOr(seen["name"], entry), joinField(field, "name"), "required")
	}
	// Messages here never quote a password, only say what is wrong with it.
	checkPassword := func(proto string, pw otaudit.Secret, pwNode *yaml.Node, kind string) {
		pwField := joinField(field, kind+"_password")
		if hasProblemAt(d.problems[before:], pwField) {
			return
		}
		switch {
		case proto != "" && pw.IsZero():
			d.problemAt(keyOr(seen[kind+"_protocol"], entry), pwField, "required when %s_protocol is set", kind)
		case proto == "" && !pw.IsZero() && seen[kind+"_protocol"] == nil:
			d.problemAt(pwNode, pwField, "set without %s_protocol", kind)
		case proto != "" && len(pw.Reveal()) < minUSMPasswordLength:
			d.problemAt(pwNode, pwField, "shorter than %d characters (RFC 3414); agents will refuse it", minUSMPasswordLength)
		}
	}
	checkPassword(u.AuthProtocol, u.AuthPassword, authNode, "auth")
	checkPassword(u.PrivProtocol, u.PrivPassword, privNode, "priv")
	if u.PrivProtocol != "" && u.AuthProtocol == "" && seen["auth_protocol"] == nil {
		d.problemAt(keyOr(seen["priv_protocol"], entry), joinField(field, "priv_protocol"), "privacy needs authentication: set auth_protocol too")
	}
	return u, len(d.problems) == before
}
