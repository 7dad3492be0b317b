package mail

import (
	"fmt"

	"github.com/wneessen/go-mail/smtp"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// outcome classifies a failed command. After a refusal the transaction
// is reset with RSET on the same connection (rset); a failure without an
// SMTP reply means the connection broke. A 5xx to MAIL FROM refuses the
// whole session — the sender, not the reader — and stops the send.
func outcome(out syndicate.Outcome, err error, rset *smtp.Client, toMailFrom bool) (syndicate.Outcome, next) {
	out.Reply = reply(err)
	code := replyCode(err)
	switch {
	case code == 0:
		// No reply: the connection broke. If it broke after the final
		// "." the relay may have the message; sending again is the only
		// way not to miss the reader.
		out.State = syndicate.DeliveryTemp
		return out, next{reconnect: true}
	case toMailFrom && code >= 500:
		hint := "check email.from and that the relay lets this machine send as it"
		if code == 530 {
			hint = "the relay wants TLS or a login first: set email.smtp.tls: starttls (or tls) and email.smtp.username"
		}
		return out, next{fatal: &SetupError{Err: ErrRefused, Detail: fmt.Sprintf("MAIL FROM: %s", out.Reply), Hint: hint}}
	case code >= 500:
		out.State = syndicate.DeliveryFailed
	default:
		out.State = syndicate.DeliveryTemp
	}
	if code == 421 {
		return out, next{reconnect: true} // the relay is closing the connection
	}
	if rset != nil && rset.Reset() != nil {
		return out, next{reconnect: true}
	}
	return out, next{}
}

// reply is the server's reply in an error.
func reply(err error) string {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}
