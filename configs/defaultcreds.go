package configs

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

//go:embed default-credentials.yaml
var embeddedDefaultCredentials []byte

// DefaultLogin is a publicly documented vendor default user and password.
type DefaultLogin struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// defaultCredentialsFile is the shape of default-credentials.yaml.
type defaultCredentialsFile struct {
	Login []string       `yaml:"login"`
	SNMP  []string       `yaml:"snmp"`
	OPCUA []DefaultLogin `yaml:"opcua"`
}

func parseDefaultCredentials(data []byte) (defaultCredentialsFile, error) {
	var f defaultCredentialsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("default-credentials.yaml: %w", err)
	}
	return f, nil
}

func mustDefaultCredentials() defaultCredentialsFile {
	f, err := parseDefaultCredentials(embeddedDefaultCredentials)
	if err != nil {
		// Compiled in and loaded by TestDefaultCredentials: a build defect.
		panic("configs: embedded " + err.Error())
	}
	return f
}

// DefaultCredentials returns the embedded list of well-known vendor default
// secrets, shaped for otaudit.CredentialJudge.Defaults: "" holds login
// passwords (checked for every protocol), "snmp" community strings, "opcua"
// the passwords of the default OPC UA user/password pairs. The list is only
// for recognising defaults seen on the wire or accepted by a device. Each
// call returns a fresh map.
func DefaultCredentials() map[string][]string {
	f := mustDefaultCredentials()
	var opcua []string
	for _, l := range f.OPCUA {
		if !slices.Contains(opcua, l.Password) {
			opcua = append(opcua, l.Password)
		}
	}
	return map[string][]string{
		"":      slices.Clone(f.Login),
		"snmp":  slices.Clone(f.SNMP),
		"opcua": opcua,
	}
}

// DefaultOPCUALogins returns the embedded OPC UA default user/password
// pairs, for the opt-in credential-guessing probe (bounded by
// active.credential_guessing).
func DefaultOPCUALogins() []DefaultLogin {
	return slices.Clone(mustDefaultCredentials().OPCUA)
}
