package checks

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// Evidence from the active collectors (SNMP access, OPC UA endpoints, login
// probes): the evaluators here select these observations, and evidenceOf
// describes them with describeActive.

// snmpAccesses returns the SNMP access observations.
func (in *Input) snmpAccesses() []otaudit.Observation {
	return in.observationsOf(otaudit.KindSNMPAccess, func(o otaudit.Observation) bool { return o.SNMPAccess != nil })
}

// opcuaEndpoints returns the OPC UA endpoint descriptions.
func (in *Input) opcuaEndpoints() []otaudit.Observation {
	return in.observationsOf(otaudit.KindEndpoint, func(o otaudit.Observation) bool {
		return o.Endpoint != nil && (o.Endpoint.Protocol == "" || o.Endpoint.Protocol == "opcua")
	})
}

// opcuaProbes returns the OPC UA login probes.
func (in *Input) opcuaProbes() []otaudit.Observation {
	return in.observationsOf(otaudit.KindLoginProbe, func(o otaudit.Observation) bool {
		return o.LoginProbe != nil && (o.LoginProbe.Protocol == "" || o.LoginProbe.Protocol == "opcua")
	})
}

func (in *Input) observationsOf(kind otaudit.ObservationKind, ok func(otaudit.Observation) bool) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range in.Observations {
		if o.Kind == kind && ok(o) {
			out = append(out, o)
		}
	}
	return out
}

// describeActive describes an active observation the way evidenceOf does
// passive ones; ok is false for any other kind. Nothing secret is in these
// observations: communities are fingerprints, probes keep only the user.
func describeActive(o otaudit.Observation) (otaudit.Evidence, bool) {
	e := otaudit.Evidence{
		Source: o.Source, Kind: string(o.Kind), Count: o.Count,
		FirstFrame: o.FirstFrame, FirstSeen: o.FirstSeen, LastSeen: o.LastSeen,
	}
	switch {
	case o.SNMPAccess != nil:
		s := o.SNMPAccess
		e.Server = addrString(s.Target)
		verdict := "refused"
		if s.Accepted {
			verdict = "accepted"
		}
		e.Detail = fmt.Sprintf("SNMP %s read %s, access %s", s.Version, verdict, cmpOr(s.Access, "unknown"))
		if s.Version == "v3" {
			e.Detail += fmt.Sprintf(", user %q level %s auth %s priv %s", s.User, cmpOr(s.SecurityLevel, "unknown"),
				cmpOr(s.AuthProtocol, "none"), cmpOr(s.PrivProtocol, "none"))
		} else {
			e.Detail += fmt.Sprintf(", community fingerprint %s known default %t", cmpOr(s.Fingerprint, "none"), s.KnownDefault)
		}
	case o.Endpoint != nil:
		ep := o.Endpoint
		e.Server = addrString(ep.Server)
		var tokens []string
		for _, t := range ep.UserTokens {
			tokens = append(tokens, t.Type+"("+cmpOr(policyName(t.SecurityPolicy), "inherits")+")")
		}
		e.Detail = fmt.Sprintf("%s endpoint %s policy %s mode %s, user tokens %s", cmpOr(ep.Protocol, "opcua"), ep.URL,
			policyName(ep.SecurityPolicy), ep.SecurityMode, cmpOr(strings.Join(tokens, ", "), "none"))
		if c := ep.Certificate; c != nil {
			e.Detail += fmt.Sprintf("; certificate subject %q issuer %q valid %s to %s, self-signed %t, %d-bit key, %s, sha256 %s",
				c.Subject, c.Issuer, c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly),
				c.SelfSigned, c.KeyBits, c.SignatureAlgorithm, c.SHA256)
		}
	case o.LoginProbe != nil:
		p := o.LoginProbe
		e.Server = addrString(p.Server)
		verdict := "refused"
		if p.Accepted {
			verdict = "accepted"
		}
		e.Detail = fmt.Sprintf("%s %s login probe", cmpOr(p.Protocol, "opcua"), p.Method)
		if p.Method == "password" {
			e.Detail += fmt.Sprintf(" user %q known default %t", p.User, p.KnownDefault)
		}
		e.Detail += " " + verdict
		if p.Endpoint != "" {
			e.Detail += " on " + p.Endpoint
		}
		if p.Sampled > 0 {
			e.Detail += fmt.Sprintf(": of %d sampled nodes %d writable, %d methods executable", p.Sampled, p.WritableNodes, p.ExecutableMethods)
		}
		if p.Detail != "" {
			e.Detail += " (" + p.Detail + ")"
		}
	default:
		return e, false
	}
	return e, true
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}

// policyName shortens an OPC UA SecurityPolicyUri to its name ("None",
// "Basic256Sha256").
func policyName(uri string) string {
	if i := strings.LastIndexByte(uri, '#'); i >= 0 {
		return uri[i+1:]
	}
	return uri
}

// evaluationTime is Input.Now, or when it is zero the latest evidence time,
// so that a replayed capture is judged as of when it was taken.
func (in *Input) evaluationTime() time.Time {
	if !in.Now.IsZero() {
		return in.Now
	}
	var latest time.Time
	for _, o := range in.Observations {
		if o.LastSeen.After(latest) {
			latest = o.LastSeen
		}
	}
	return latest
}
