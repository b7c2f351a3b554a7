package pcap

import (
	"bytes"
)

// Telnet: recover the user name and password typed after the server's
// login and password prompts. Option negotiation (IAC …) is stripped from
// both directions; clients that send one character per packet are handled
// because the extractor works on the byte stream, not on segments.

const (
	telnetSE   = 240
	telnetSB   = 250
	telnetWILL = 251
	telnetWONT = 252
	telnetDO   = 253
	telnetDONT = 254
	telnetIAC  = 255
)

// iacFilter removes Telnet commands from one direction of the stream.
type iacFilter struct{ st uint8 }

const (
	iacData   uint8 = iota
	iacCmd          // after IAC
	iacOpt          // after IAC WILL/WONT/DO/DONT
	iacSub          // inside IAC SB … IAC SE
	iacSubIAC       // IAC inside a subnegotiation
)

// next feeds one byte and reports whether it is data.
func (f *iacFilter) next(c byte) (byte, bool) {
	switch f.st {
	case iacData:
		if c == telnetIAC {
			f.st = iacCmd
			return 0, false
		}
		return c, true
	case iacCmd:
		switch {
		case c == telnetIAC: // escaped 0xff
			f.st = iacData
			return c, true
		case c >= telnetWILL && c <= telnetDONT:
			f.st = iacOpt
		case c == telnetSB:
			f.st = iacSub
		default:
			f.st = iacData
		}
	case iacOpt:
		f.st = iacData
	case iacSub:
		if c == telnetIAC {
			f.st = iacSubIAC
		}
	case iacSubIAC:
		if c == telnetSE {
			f.st = iacData
		} else {
			f.st = iacSub
		}
	}
	return 0, false
}

type loginState uint8

const (
	loginIdle    loginState = iota
	loginUser               // a login prompt was shown: the next line is the user
	loginPass               // a password prompt was shown: the next line is the secret
	loginOutcome            // a password was sent: waiting for the verdict
	loginDone               // logged in; nothing more to learn
)

const maxLoginAttempts = 16

// loginExtractor follows a prompt-driven login dialogue (Telnet, and any
// other line protocol that prompts the same way).
type loginExtractor struct {
	filter   [2]iacFilter
	state    loginState
	line     [128]byte
	lineLen  int
	skipLF   bool
	user     string
	tail     [96]byte // last server text, lower-cased
	tailLen  int
	attempts int

	pending        bool
	pendingFP      string
	pendingDefault bool
	pendingUser    string
	pendingFrame   frameInfo
}

type telnetStream struct {
	lx loginExtractor
}

func (t *telnetStream) data(a *analysis, c *conn, d dir, b []byte, f *frameInfo) int {
	t.lx.feed(d, b, func(secret []byte) {
		fp, def := a.judge.Judge("telnet", secret)
		t.lx.setPending(fp, def, f)
	}, func(outcome string) {
		t.lx.emit(a, c, outcome)
	})
	return len(b)
}

func (t *telnetStream) gap(*analysis, *conn, dir) {}

func (t *telnetStream) end(a *analysis, c *conn) {
	if t.lx.pending {
		t.lx.emit(a, c, "")
	}
}

func (lx *loginExtractor) setPending(fp string, def bool, f *frameInfo) {
	lx.pending, lx.pendingFP, lx.pendingDefault, lx.pendingUser, lx.pendingFrame = true, fp, def, lx.user, *f
}

func (lx *loginExtractor) emit(a *analysis, c *conn, outcome string) {
	if !lx.pending {
		return
	}
	lx.pending = false
	a.judgedCredential("telnet", c.cli, c.srv, lx.pendingUser, lx.pendingFP, lx.pendingDefault, outcome, "", &lx.pendingFrame)
}

// feed processes bytes of one direction. secret is called with a completed
// password (the buffer is zeroed right after); outcome with "success" or
// "failure" when the server's answer to a password shows it.
func (lx *loginExtractor) feed(d dir, b []byte, secret func([]byte), outcome func(string)) {
	if lx.state == loginDone {
		return
	}
	for _, raw := range b {
		ch, ok := lx.filter[d].next(raw)
		if !ok {
			continue
		}
		if d == toClient {
			lx.serverByte(ch)
			continue
		}
		lx.clientByte(ch, secret)
	}
	if d == toClient {
		lx.serverText(outcome)
	}
}

func (lx *loginExtractor) serverByte(ch byte) {
	if ch == 0 {
		return
	}
	if ch >= 'A' && ch <= 'Z' {
		ch += 'a' - 'A'
	}
	if lx.tailLen == len(lx.tail) {
		copy(lx.tail[:], lx.tail[1:])
		lx.tailLen--
	}
	lx.tail[lx.tailLen] = ch
	lx.tailLen++
}

var (
	userPrompts   = [][]byte{[]byte("login:"), []byte("username:"), []byte("user name:"), []byte("user:")}
	passPrompts   = [][]byte{[]byte("password:"), []byte("passcode:"), []byte("passwd:")}
	failureWords  = [][]byte{[]byte("incorrect"), []byte("failed"), []byte("failure"), []byte("denied"), []byte("invalid"), []byte("bad password"), []byte("bad passwords")}
	successPrompt = []byte("$#>%")
)

func hasSuffixAny(b []byte, list [][]byte) bool {
	for _, s := range list {
		if bytes.HasSuffix(b, s) {
			return true
		}
	}
	return false
}

func containsAny(b []byte, list [][]byte) bool {
	for _, s := range list {
		if bytes.Contains(b, s) {
			return true
		}
	}
	return false
}

// serverText looks at what the server has said so far for a prompt or a
// verdict.
func (lx *loginExtractor) serverText(outcome func(string)) {
	text := lx.tail[:lx.tailLen]
	trimmed := bytes.TrimRight(text, " \t\r\n\x00")
	userPrompt := hasSuffixAny(trimmed, userPrompts)
	passPrompt := hasSuffixAny(trimmed, passPrompts)
	if lx.state == loginOutcome {
		switch {
		case containsAny(text, failureWords) || userPrompt || passPrompt:
			outcome("failure")
			lx.state = loginIdle
		case len(trimmed) > 0 && bytes.IndexByte(successPrompt, trimmed[len(trimmed)-1]) >= 0,
			bytes.Contains(text, []byte("last login")), bytes.Contains(text, []byte("welcome")):
			outcome("success")
			lx.state = loginDone
			return
		}
	}
	if lx.attempts >= maxLoginAttempts {
		lx.state = loginDone
		return
	}
	switch {
	case passPrompt && lx.state != loginOutcome:
		lx.state, lx.lineLen, lx.skipLF = loginPass, 0, false
		lx.tailLen = 0
	case userPrompt && lx.state != loginOutcome:
		lx.state, lx.lineLen, lx.skipLF = loginUser, 0, false
		lx.user = ""
		lx.tailLen = 0
	}
}

func (lx *loginExtractor) clientByte(ch byte, secret func([]byte)) {
	if lx.state != loginUser && lx.state != loginPass {
		return
	}
	if lx.skipLF {
		lx.skipLF = false
		if ch == '\n' || ch == 0 {
			return
		}
	}
	switch {
	case ch == '\r' || ch == '\n':
		lx.skipLF = ch == '\r'
		lx.lineDone(secret)
	case ch == 0x08 || ch == 0x7f: // backspace, delete
		if lx.lineLen > 0 {
			lx.lineLen--
			lx.line[lx.lineLen] = 0
		}
	case ch == 0x15: // ^U kills the line
		clear(lx.line[:lx.lineLen])
		lx.lineLen = 0
	case ch >= 0x20:
		if lx.lineLen < len(lx.line) {
			lx.line[lx.lineLen] = ch
			lx.lineLen++
		}
	}
}

func (lx *loginExtractor) lineDone(secret func([]byte)) {
	switch lx.state {
	case loginUser:
		lx.user = printable(lx.line[:lx.lineLen], 64)
		// Stay idle until the password prompt: some servers ask again.
		lx.state = loginIdle
	case loginPass:
		lx.attempts++
		secret(lx.line[:lx.lineLen])
		lx.state = loginOutcome
		lx.tailLen = 0
	}
	clear(lx.line[:])
	lx.lineLen = 0
}
