package pcap

import (
	"bytes"
)

// FTP control connection: USER / PASS commands from the client, 230 (logged
// in) or 530 (not logged in) from the server decide the outcome.

const maxLine = 2048 // longer lines are not commands we care about

type ftpStream struct {
	user    string
	pending bool
	fp      string
	def     bool
	frame   frameInfo
	// discarding is set while skipping the rest of an over-long line.
	discarding [2]bool
}

// lines calls fn for each complete line in b and returns the bytes
// consumed; a line longer than maxLine is dropped (discard tracks that).
func lines(b []byte, discard *bool, fn func(line []byte)) int {
	off := 0
	for {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			if len(b)-off > maxLine {
				*discard = true
				return len(b)
			}
			return off
		}
		line := b[off : off+i]
		off += i + 1
		if *discard {
			*discard = false
			continue
		}
		fn(bytes.TrimRight(line, "\r"))
	}
}

func (s *ftpStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	return lines(b, &s.discarding[d], func(line []byte) {
		if d == toServer {
			s.command(a, c, line, f)
		} else {
			s.reply(a, c, line)
		}
	})
}

func (s *ftpStream) command(a *analysis, c *conn, line []byte, f *frameInfo) {
	verb, arg, _ := bytes.Cut(line, []byte(" "))
	switch {
	case bytes.EqualFold(verb, []byte("USER")):
		s.flush(a, c, "")
		s.user = printable(arg, 64)
	case bytes.EqualFold(verb, []byte("PASS")):
		s.flush(a, c, "")
		s.fp, s.def = a.judge.Judge("ftp", arg)
		s.pending, s.frame = true, *f
	}
}

func (s *ftpStream) reply(a *analysis, c *conn, line []byte) {
	if !s.pending || len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
		return
	}
	switch string(line[:3]) {
	case "230":
		s.flush(a, c, "success")
	case "530":
		s.flush(a, c, "failure")
	}
}

func (s *ftpStream) flush(a *analysis, c *conn, outcome string) {
	if !s.pending {
		return
	}
	s.pending = false
	a.judgedCredential("ftp", c.cli, c.srv, s.user, s.fp, s.def, outcome, "", &s.frame)
}

func (s *ftpStream) gap(_ *analysis, _ *conn, d dir) { s.discarding[d] = false }

func (s *ftpStream) end(a *analysis, c *conn) { s.flush(a, c, "") }
