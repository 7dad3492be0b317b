package mail

import (
	"bufio"
	"bytes"

	"github.com/wneessen/go-mail/smtp"
)

// writeData sends the message, dot-stuffed with CRLF line ends, and the
// final ".", and reads the reply.
func writeData(sc *smtp.Client, raw []byte) error {
	// The whole message in one write: bufio passes a write larger than
	// its buffer straight to the connection.
	out := bufio.NewWriterSize(sc.Text.W, len(raw)+len(raw)/32+64)
	if err := writeDotStuffed(out, raw); err != nil {
		return err
	}
	if _, err := out.WriteString(".\r\n"); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if err := sc.Text.W.Flush(); err != nil {
		return err
	}
	_, _, err := sc.Text.ReadResponse(250)
	return err
}

// writeDotStuffed writes raw as SMTP DATA: every line ends in CRLF and a
// line starting with "." gets another (RFC 5321 4.5.2). A lone CR or LF
// ends a line too and is written as CRLF, so nothing a body holds can
// make "\r.\r\n" or a bare line end on the wire (SMTP smuggling). It works
// a line at a time, not a byte at a time.
func writeDotStuffed(w *bufio.Writer, raw []byte) error {
	for len(raw) > 0 {
		line, rest := raw, []byte(nil)
		if i := bytes.IndexAny(raw, "\r\n"); i >= 0 {
			line, rest = raw[:i], raw[i+1:]
			if raw[i] == '\r' && len(rest) > 0 && rest[0] == '\n' {
				rest = rest[1:]
			}
		}
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
		raw = rest
	}
	return nil
}

// hasLongLine reports a line longer than SMTP's 998 octets.
func hasLongLine(raw []byte) bool {
	for len(raw) > 998 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return true
		}
		if i > 999 || (i == 999 && raw[998] != '\r') {
			return true
		}
		raw = raw[i+1:]
	}
	return false
}
