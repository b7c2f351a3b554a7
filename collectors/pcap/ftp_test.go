package pcap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

// The dialogues are those of vsftpd and ProFTPD (RFC 959 replies,
// multi-line "230-" greetings) with a command-line client.

func TestFTPLogin(t *testing.T) {
	type cred struct {
		user, outcome string
		knownDefault  bool
	}
	tests := []struct {
		name     string
		talk     []string // server, client, server, … (an empty string skips a turn)
		want     []cred
		password string // must appear nowhere in the result
	}{
		{"anonymous accepted",
			[]string{"220 (vsFTPd 3.0.5)\r\n", "USER anonymous\r\n", "331 Please specify the password.\r\n", "PASS guest@plant\r\n", "230 Login successful.\r\n"},
			[]cred{{"anonymous", "success", false}}, "guest@plant"},
		{"wrong password, then the default accepted",
			[]string{"220 ProFTPD Server\r\n", "USER admin\r\n", "331 Password required for admin\r\n", "PASS Adm1n-2024\r\n", "530 Login incorrect.\r\n",
				"USER admin\r\n", "331 Password required for admin\r\n", "PASS admin\r\n", "230 User admin logged in\r\n"},
			[]cred{{"admin", "failure", false}, {"admin", "success", true}}, "Adm1n-2024"},
		{"multi-line 230 greeting",
			[]string{"220 ready\r\n", "user operator\r\n", "331 ok\r\n", "pass Op3rator!\r\n", "230-Welcome to the line 3 HMI\r\n230-Files are logged\r\n230 Login successful.\r\n"},
			[]cred{{"operator", "success", false}}, "Op3rator!"},
		{"commands split across segments, bare LF",
			[]string{"220 ready\n", "US", "", "ER maint\nPA", "", "SS s3cr3t-pw\n", "230 ok\n"},
			[]cred{{"maint", "success", false}}, "s3cr3t-pw"},
		{"no reply before the capture ends",
			[]string{"220 ready\r\n", "USER eng\r\n", "331 ok\r\n", "PASS Unanswered#1\r\n"},
			[]cred{{"eng", "", false}}, "Unanswered#1"},
		{"an over-long line is skipped, the login after it is read",
			[]string{"220 ready\r\n", "SITE " + strings.Repeat("x", 3*maxLine), "", "\r\nUSER eng\r\n", "331 ok\r\n", "PASS Long-line-1\r\n", "230 ok\r\n"},
			[]cred{{"eng", "success", false}}, "Long-line-1"},
		{"AUTH TLS: nothing in clear",
			[]string{"220 ready\r\n", "AUTH TLS\r\n", "234 Proceed with negotiation.\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
			nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTCPSession(t, "10.0.0.1", 40021, "10.0.0.5", 21)
			for i, chunk := range tc.talk {
				switch {
				case chunk == "":
				case i%2 == 0:
					s.server([]byte(chunk))
				default:
					s.client([]byte(chunk))
				}
			}
			r, err := analyzeBytes(t, "ftp.pcap", capture(t, s.frames...))
			if err != nil {
				t.Fatal(err)
			}
			var got []cred
			for _, o := range observations(r, otaudit.KindCredential) {
				c := o.Credential
				if c.Protocol != "ftp" || c.Client.String() != "10.0.0.1" || c.Server.String() != "10.0.0.5" || !strings.HasPrefix(c.Fingerprint, "hmac-sha256:") {
					t.Errorf("credential %+v", c)
				}
				got = append(got, cred{c.User, c.Outcome, c.KnownDefault})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("credentials %+v, want %+v", got, tc.want)
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("credentials %+v: missing %+v", got, w)
				}
			}
			if tc.password != "" {
				for _, v := range jsonStrings(t, r) {
					if strings.Contains(v, tc.password) {
						t.Errorf("the password is in the result: %q", v)
					}
				}
			}
		})
	}
}

// FuzzFTPControl: arbitrary bytes each way on an FTP control connection
// never panic, and there are never more credentials than PASS commands.
func FuzzFTPControl(f *testing.F) {
	f.Add([]byte("USER a\r\nPASS b\r\n"), []byte("220 x\r\n331 y\r\n230 z\r\n"))
	f.Add([]byte("USER a\nPASS b\nUSER c\nPASS d\n"), []byte("530 no\n230-a\n230 b\n"))
	f.Add([]byte("PASS "+strings.Repeat("p", 3000)), []byte("230"))
	f.Fuzz(func(t *testing.T, client, server []byte) {
		r := analyzeExchange(t, 21, client, server, true)
		n := 0
		for _, o := range observations(r, otaudit.KindCredential) {
			if o.Credential.Protocol == "ftp" {
				n++
			}
		}
		if passes := bytes.Count(bytes.ToUpper(client), []byte("PASS")); n > passes {
			t.Fatalf("%d ftp credentials from %d PASS commands", n, passes)
		}
	})
}
