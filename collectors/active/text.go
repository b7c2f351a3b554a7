package active

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable renders bytes a device sent as a bounded, printable UTF-8
// string, for every prober: valid printable runes are kept, anything else
// becomes \xNN or \uNNNN, and the result is cut before max bytes and marked
// "…". The padding characters are trimmed from both ends first.
func Printable(b []byte, max int, padding string) string {
	b = bytes.Trim(b, padding)
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = fmt.Sprintf(`\x%02x`, b[0])
			size = 1
		case r == '\\':
			piece = `\\`
		case unicode.IsPrint(r) || r == ' ':
			piece = string(r)
		case r < 0x100:
			piece = fmt.Sprintf(`\x%02x`, r)
		default:
			piece = fmt.Sprintf(`\u%04x`, r)
		}
		if sb.Len()+len(piece) > max-len("…") {
			sb.WriteString("…")
			break
		}
		sb.WriteString(piece)
		b = b[size:]
	}
	return sb.String()
}
