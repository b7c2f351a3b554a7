package pcap

import (
	"bytes"
	"encoding/base64"
	"strconv"
)

// HTTP/1.x: find Authorization: Basic headers in requests and learn the
// outcome from the status of the matching response (401 → failure, 2xx or
// 3xx → success). Message bodies are skipped by Content-Length or chunked
// framing so pipelined and keep-alive connections stay in step.

const maxPendingRequests = 64

type httpPhase uint8

const (
	httpStart    httpPhase = iota // expecting a request or status line
	httpHeaders                   // inside a header block
	httpBody                      // skipping bodyLeft bytes
	httpChunkLen                  // expecting a chunk-size line
	httpChunk                     // skipping chunk data (+CRLF)
	httpTrailer                   // trailers after the last chunk
	httpToClose                   // body runs to the end of the connection
)

type httpSide struct {
	phase     httpPhase
	bodyLeft  int64
	chunked   bool
	length    int64 // Content-Length, -1 if absent
	status    int
	discard   bool
	noBodyReq bool // response to HEAD
}

// httpRequest is a request waiting for its response.
type httpRequest struct {
	head   bool
	cred   bool
	digest bool // Authorization: Digest (user name only, no secret)
	user   string
	fp     string
	def    bool
	frame  frameInfo
	status int
}

type httpStream struct {
	side    [2]httpSide
	pending []httpRequest
	// first backs pending for the usual one request at a time, which
	// otherwise cost an allocation per request.
	first [1]httpRequest
}

func (h *httpStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	s := &h.side[d]
	off := 0
	for off < len(b) {
		switch s.phase {
		case httpBody, httpChunk:
			n := int64(len(b) - off)
			if n > s.bodyLeft {
				n = s.bodyLeft
			}
			off += int(n)
			s.bodyLeft -= n
			if s.bodyLeft == 0 {
				if s.phase == httpChunk {
					s.phase = httpChunkLen
				} else {
					s.phase = httpStart
				}
			}
			continue
		case httpToClose:
			return len(b)
		}
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			if len(b)-off > maxLine {
				s.discard = true
				return len(b)
			}
			return off
		}
		line := bytes.TrimRight(b[off:off+i], "\r")
		off += i + 1
		if s.discard {
			s.discard = false
			continue
		}
		h.line(a, c, d, s, line, f)
	}
	return off
}

func (h *httpStream) line(a *analysis, c *conn, d dir, s *httpSide, line []byte, f *frameInfo) {
	switch s.phase {
	case httpStart:
		if len(line) == 0 {
			return
		}
		s.length, s.chunked, s.status = -1, false, 0
		if d == toServer {
			if !isHTTPRequestLine(line) {
				return
			}
			if len(h.pending) >= maxPendingRequests {
				h.answer(a, c, 0)
			}
			if h.pending == nil {
				h.pending = h.first[:0:1]
			}
			h.pending = append(h.pending, httpRequest{head: bytes.HasPrefix(line, []byte("HEAD ")), frame: *f})
			s.phase = httpHeaders
			return
		}
		if !bytes.HasPrefix(line, []byte("HTTP/")) {
			return
		}
		_, rest, _ := bytes.Cut(line, []byte(" "))
		code, _, _ := bytes.Cut(rest, []byte(" "))
		s.status, _ = strconv.Atoi(string(code))
		s.phase = httpHeaders
	case httpHeaders:
		if len(line) == 0 {
			h.headersDone(a, c, d, s)
			return
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 {
				s.length = n
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			s.chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case d == toServer && bytes.EqualFold(bytes.TrimSpace(name), []byte("Authorization")):
			if len(h.pending) > 0 {
				h.authorization(a, &h.pending[len(h.pending)-1], value)
			}
		}
	case httpChunkLen:
		sz, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
		if err != nil || n < 0 || n > maxStreamSkip {
			a.decodeError(f.index, "http: bad chunk size")
			s.phase = httpStart
			return
		}
		if n == 0 {
			s.phase = httpTrailer
			return
		}
		s.phase, s.bodyLeft = httpChunk, n+2 // data and its CRLF
	case httpTrailer:
		if len(line) == 0 {
			s.phase = httpStart
		}
	}
}

func isHTTPRequestLine(line []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(line, m) {
			return bytes.Contains(line, []byte(" HTTP/"))
		}
	}
	return false
}

func (h *httpStream) headersDone(a *analysis, c *conn, d dir, s *httpSide) {
	s.phase = httpStart
	if d == toClient {
		if s.status >= 100 && s.status < 200 {
			return // interim response; the real one follows
		}
		head := len(h.pending) > 0 && h.pending[0].head
		h.answer(a, c, s.status)
		if head || s.status == 204 || s.status == 304 {
			return
		}
		switch {
		case s.chunked:
			s.phase = httpChunkLen
		case s.length > 0:
			s.phase, s.bodyLeft = httpBody, s.length
		case s.length < 0:
			s.phase = httpToClose
		}
		return
	}
	switch {
	case s.chunked:
		s.phase = httpChunkLen
	case s.length > 0:
		s.phase, s.bodyLeft = httpBody, s.length
	}
}

// authorization handles one Authorization header value of request r.
func (h *httpStream) authorization(a *analysis, r *httpRequest, value []byte) {
	scheme, cred, _ := bytes.Cut(value, []byte(" "))
	if bytes.EqualFold(scheme, []byte("Digest")) {
		// Digest sends a hash, never the password: keep the user name only.
		r.cred, r.digest, r.user = true, true, digestUsername(cred)
		return
	}
	if !bytes.EqualFold(scheme, []byte("Basic")) {
		return
	}
	user, fp, def, ok := judgeBasic(a, bytes.TrimSpace(cred))
	if !ok {
		a.decodeError(r.frame.index, "http: Authorization: Basic value is not base64 user:password")
		return
	}
	r.cred, r.user, r.fp, r.def = true, user, fp, def
}

// judgeBasic decodes a Basic credential, judges the password and wipes the
// decoded copy.
func judgeBasic(a *analysis, b64 []byte) (user, fp string, def, ok bool) {
	var buf [768]byte
	if base64.StdEncoding.DecodedLen(len(b64)) > len(buf) {
		return "", "", false, false
	}
	n, err := base64.StdEncoding.Decode(buf[:], b64)
	if err != nil {
		n, err = base64.RawStdEncoding.Decode(buf[:], bytes.TrimRight(b64, "="))
	}
	defer clear(buf[:])
	if err != nil {
		return "", "", false, false
	}
	u, secret, found := bytes.Cut(buf[:n], []byte(":"))
	if !found {
		return "", "", false, false
	}
	fp, def = a.judge.Judge("http-basic", secret)
	return printable(u, 64), fp, def, true
}

// answer pairs a response status with the oldest pending request.
func (h *httpStream) answer(a *analysis, c *conn, status int) {
	if len(h.pending) == 0 {
		return
	}
	r := h.pending[0]
	h.pending = h.pending[1:]
	if len(h.pending) == 0 {
		h.pending = nil // a connection waiting for nothing keeps no array
		h.first = [1]httpRequest{}
	}
	if !r.cred {
		return
	}
	outcome := ""
	switch {
	case status == 401:
		outcome = "failure"
	case status >= 200 && status < 400:
		outcome = "success"
	}
	proto := "http-basic"
	if r.digest {
		proto = "http-digest"
	}
	a.judgedCredential(proto, c.cli, c.srv, r.user, r.fp, r.def, outcome, "", &r.frame)
}

func (h *httpStream) gap(_ *analysis, _ *conn, d dir) {
	s := &h.side[d]
	if s.phase != httpToClose {
		s.phase, s.discard = httpStart, true
	}
}

// quiescent: every request has had its response, and neither side is
// inside a message.
func (h *httpStream) quiescent() bool {
	return len(h.pending) == 0 && h.side[toServer].phase == httpStart && h.side[toClient].phase == httpStart &&
		!h.side[toServer].discard && !h.side[toClient].discard
}

func (h *httpStream) end(a *analysis, c *conn) {
	for len(h.pending) > 0 {
		h.answer(a, c, 0)
	}
}

// digestUsername finds username="…" (or an unquoted token) among the
// comma-separated Digest parameters.
func digestUsername(params []byte) string {
	for _, p := range bytes.Split(params, []byte(",")) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(p), []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("username")) {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return printable(v, 64)
	}
	return ""
}
