package certinfo

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/otaudit/otaudit/collectors/certinfo/certtest"
)

func TestDescribe(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	good := certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.Add(365 * 24 * time.Hour), Subject: "PLC1"}

	_, ca, caKey := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: good.From, To: good.To, Subject: "Plant CA"}, nil, nil)

	cases := []struct {
		name       string
		spec       certtest.Spec
		byCA       bool
		selfSigned bool
		bits       int
		sig        string
		expired    bool
	}{
		{"self-signed SHA-256 2048", good, false, true, 2048, "SHA256-RSA", false},
		{"issued by a CA", good, true, false, 2048, "SHA256-RSA", false},
		{"expired", certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-48 * time.Hour), To: now.Add(-24 * time.Hour), Subject: "OLD"}, false, true, 2048, "SHA256-RSA", true},
		{"SHA-1 signature", certtest.Spec{Bits: 2048, SigAlg: x509.SHA1WithRSA, From: good.From, To: good.To, Subject: "SHA1"}, false, true, 2048, "SHA1-RSA", false},
		{"1024-bit key", certtest.Spec{Bits: 1024, SigAlg: x509.SHA256WithRSA, From: good.From, To: good.To, Subject: "SHORT"}, false, true, 1024, "SHA256-RSA", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var der []byte
			if c.byCA {
				der, _, _ = certtest.Make(t, c.spec, ca, caKey)
			} else {
				der, _, _ = certtest.Make(t, c.spec, nil, nil)
			}
			got, err := Describe(der)
			if err != nil {
				t.Fatalf("Describe: %v", err)
			}
			if got.SelfSigned != c.selfSigned {
				t.Errorf("SelfSigned = %v, want %v", got.SelfSigned, c.selfSigned)
			}
			if got.KeyBits != c.bits {
				t.Errorf("KeyBits = %d, want %d", got.KeyBits, c.bits)
			}
			if got.SignatureAlgorithm != c.sig {
				t.Errorf("SignatureAlgorithm = %q, want %q", got.SignatureAlgorithm, c.sig)
			}
			if expired := got.NotAfter.Before(now); expired != c.expired {
				t.Errorf("NotAfter %v: expired %v, want %v", got.NotAfter, expired, c.expired)
			}
			if !got.NotBefore.Equal(c.spec.From) || !got.NotAfter.Equal(c.spec.To) {
				t.Errorf("validity %v–%v, want %v–%v", got.NotBefore, got.NotAfter, c.spec.From, c.spec.To)
			}
			if want := "CN=" + c.spec.Subject + ",O=Plant"; got.Subject != want {
				t.Errorf("Subject = %q, want %q", got.Subject, want)
			}
			if c.byCA && got.Issuer != "CN=Plant CA,O=Plant" {
				t.Errorf("Issuer = %q", got.Issuer)
			}
			if len(got.SHA256) != 64 {
				t.Errorf("SHA256 = %q", got.SHA256)
			}
		})
	}
}

func TestDescribeRejectsGarbage(t *testing.T) {
	for _, der := range [][]byte{nil, {}, []byte("not a certificate"), {0x30, 0x82, 0xff, 0xff}} {
		if c, err := Describe(der); err == nil {
			t.Errorf("Describe(%x) = %+v, want an error", der, c)
		}
	}
}

// TestFirst: the sender's own certificate out of a chain, and clear
// errors for what is not DER.
func TestFirst(t *testing.T) {
	now := time.Now()
	leaf, _, _ := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.Add(time.Hour), Subject: "LEAF"}, nil, nil)
	ca, _, _ := certtest.Make(t, certtest.Spec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.Add(time.Hour), Subject: "CA"}, nil, nil)
	got, err := First(slices.Concat(leaf, ca))
	if err != nil || !slices.Equal(got, leaf) {
		t.Fatalf("First(leaf+ca) = %d bytes, %v; want the %d bytes of the leaf", len(got), err, len(leaf))
	}
	for _, b := range [][]byte{nil, {0x30}, {0x30, 0x82, 0xff, 0xff, 0x00}} {
		if _, err := First(b); err == nil {
			t.Errorf("First(%x): no error", b)
		}
	}
}
