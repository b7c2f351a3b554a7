package pcap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

// runLogin feeds a Telnet dialogue (server, client, server, … chunks) and
// returns the secrets and outcomes seen.
func runLogin(chunks []string) (secrets, outcomes []string) {
	var lx loginExtractor
	for i, c := range chunks {
		d := toClient
		if i%2 == 1 {
			d = toServer
		}
		lx.feed(d, []byte(c), func(s []byte) { secrets = append(secrets, string(s)) }, func(o string) { outcomes = append(outcomes, o) })
	}
	return secrets, outcomes
}

func TestTelnetLogin(t *testing.T) {
	tests := []struct {
		name     string
		chunks   []string // alternating server, client, server, …
		secrets  []string
		outcomes []string
		user     string
	}{
		{"line mode", []string{"\xff\xfd\x18login: ", "root\r\n", "Password: ", "toor\r\n", "Last login: yesterday\r\n$ "}, []string{"toor"}, []string{"success"}, "root"},
		{"char per packet with echo and backspace", []string{"Username: ", "a", "a", "d", "d", "x", "x", "\b", "\b \b", "\r\n", "\r\nPassword: ", "p", "", "w", "", "\r", "\r\nrouter>"},
			[]string{"pw"}, []string{"success"}, "ad"},
		{"IAC inside the password", []string{"login: ", "u\r\n", "Password:", "s\xff\xfb\x01e\xff\xffc\r\x00", "\r\nLogin incorrect\r\nlogin: "}, []string{"se\xffc"}, []string{"failure"}, "u"},
		{"no prompt, no credential", []string{"Welcome\r\n", "hello\r\n", "$ "}, nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secrets, outcomes := runLogin(tc.chunks)
			if strings.Join(secrets, "|") != strings.Join(tc.secrets, "|") || strings.Join(outcomes, "|") != strings.Join(tc.outcomes, "|") {
				t.Errorf("secrets %q outcomes %q; want %q %q", secrets, outcomes, tc.secrets, tc.outcomes)
			}
		})
	}
}

func TestTelnetSessionCredential(t *testing.T) {
	s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.2", 23)
	s.server([]byte("login: ")).client([]byte("admin\r\n")).server([]byte("admin\r\nPassword: ")).client([]byte("admin\r\n")).server([]byte("\r\n# "))
	r, err := analyzeBytes(t, "t.pcap", capture(t, s.frames...))
	if err != nil {
		t.Fatal(err)
	}
	var cred *otaudit.Credential
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindCredential {
			cred = o.Credential
		}
	}
	if cred == nil || cred.Protocol != "telnet" || cred.User != "admin" || !cred.KnownDefault || cred.Outcome != "success" {
		t.Fatalf("credential %+v", cred)
	}
}

func TestHTTPBasic(t *testing.T) {
	tests := []struct {
		name, req, resp, user, outcome string
		n                              int
		// clientCloses: the client sends its FIN before the answer (HTTP/1.0
		// clients may); the answer must still be read (conn.over).
		clientCloses bool
	}{
		{"401", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dGVzdDpmYWlsMg==\r\n\r\n", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nno!", "test", "failure", 1, false},
		{"extra space", "GET / HTTP/1.1\r\nAuthorization: Basic  dGVzdDoxMjM0\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\nbody", "test", "success", 1, false},
		{"pipelined, chunked", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nauthorization: basic YWRtaW46YWRtaW4=\r\n\r\n",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nHTTP\r\n0\r\n\r\nHTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", "admin", "success", 1, false},
		{"not base64", "GET / HTTP/1.1\r\nAuthorization: Basic !!!!\r\n\r\n", "", "", "", 0, false},
		{"client closes before the 401", "GET / HTTP/1.0\r\nAuthorization: Basic dGVzdDpmYWlsMg==\r\n\r\n", "HTTP/1.0 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", "test", "failure", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.2", 8000).client([]byte(tc.req))
			if tc.clientCloses {
				s.fin()
				s.cseq++ // the FIN takes a sequence number
			}
			if tc.resp != "" {
				s.server([]byte(tc.resp))
			}
			r, err := analyzeBytes(t, "h.pcap", capture(t, s.frames...))
			if err != nil {
				t.Fatal(err)
			}
			var creds []*otaudit.Credential
			for _, o := range r.Observations {
				if o.Kind == otaudit.KindCredential {
					creds = append(creds, o.Credential)
				}
			}
			if len(creds) != tc.n {
				t.Fatalf("%d credentials, want %d", len(creds), tc.n)
			}
			if tc.n == 1 && (creds[0].User != tc.user || creds[0].Outcome != tc.outcome || creds[0].Protocol != "http-basic") {
				t.Errorf("credential %+v", creds[0])
			}
			for _, v := range jsonStrings(t, r) {
				for _, secret := range []string{"fail2", "1234", "dGVzdDpmYWlsMg", "YWRtaW46YWRtaW4"} {
					if strings.Contains(v, secret) {
						t.Errorf("secret material %q in result value %q", secret, v)
					}
				}
			}
		})
	}
}

func FuzzTelnetLogin(f *testing.F) {
	f.Add([]byte("login: "), []byte("root\r\n"), []byte("Password: "), []byte("x\r\n"), []byte("$ "))
	f.Add([]byte("\xff\xfa\x18\x01\xff\xf0Username:"), []byte("a\x7f\x08b\r\x00"), []byte("passcode:"), []byte("\xff\xff\r\n"), []byte("% failed"))
	f.Fuzz(func(t *testing.T, s1, c1, s2, c2, s3 []byte) {
		var lx loginExtractor
		for i, c := range [][]byte{s1, c1, s2, c2, s3} {
			d := toClient
			if i%2 == 1 {
				d = toServer
			}
			lx.feed(d, c, func(s []byte) {
				if len(s) > len(lx.line) {
					t.Fatalf("secret of %d bytes", len(s))
				}
			}, func(o string) {
				if o != "success" && o != "failure" {
					t.Fatalf("outcome %q", o)
				}
			})
		}
		if bytes.ContainsAny(lx.line[:], "\x01") && lx.lineLen == 0 {
			t.Fatal("line buffer not cleared")
		}
	})
}

func FuzzHTTPBasic(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nAuthorization: Basic dGVzdDpmYWlsMg==\r\n\r\n"), []byte("HTTP/1.1 401 X\r\nContent-Length: 2\r\n\r\nab"))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n"), []byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, req, resp []byte) {
		a := newAnalysis("fuzz", testJudge, discardLogger(), 64)
		c := &conn{}
		h := &httpStream{}
		fi := &frameInfo{index: 1}
		for _, step := range []struct {
			d dir
			b []byte
		}{{toServer, req}, {toClient, resp}} {
			if n := h.data(a, c, step.d, step.b, fi); n < 0 || n > len(step.b) {
				t.Fatalf("consumed %d of %d", n, len(step.b))
			}
		}
		h.end(a, c)
	})
}
