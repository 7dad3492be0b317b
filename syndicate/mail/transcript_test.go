package mail

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// The message of the byte-exact transcripts: a line that needs
// quoted-printable, one starting with "." and one starting with "..", and
// no line end after the last line.
const dotBody = "Café au lait\n.hidden line\n..two\nend"

// TestSend_Transcript: the whole conversation, byte for byte, with a relay
// that offers neither PIPELINING nor 8BITMIME (one command at a time, each
// reply awaited, the body quoted-printable) and with one that offers both
// (MAIL FROM, RCPT TO and DATA in one write, BODY=8BITMIME, the body
// 8bit). Either way the body is dot-stuffed, ends in ".", and the
// connection ends with QUIT.
func TestSend_Transcript(t *testing.T) {
	tests := []struct {
		name   string
		script string
		// together are the client's lines that must come off the
		// socket in one read; apart each in a read of its own.
		together string
		apart    []string
	}{
		{
			name: "no PIPELINING, no 8BITMIME",
			script: `
				S: 220 relay.test ESMTP
				C: EHLO $HOST
				S: 250-relay.test
				S: 250-SIZE 10240000
				S: 250 HELP
				C: MAIL FROM:<brief@example.org>
				S: 250 2.1.0 Ok
				C: RCPT TO:<r1@example.net>
				S: 250 2.1.5 Ok
				C: DATA
				S: 354 End data with <CR><LF>.<CR><LF>
				C: Date: Tue, 01 Dec 2026 07:00:00 +0000
				C: MIME-Version: 1.0
				C: Message-ID: <r1@example.org>
				C: Subject: Digest
				C: From: "Brief" <brief@example.org>
				C: To: <r1@example.net>
				C: Content-Transfer-Encoding: quoted-printable
				C: Content-Type: text/plain; charset=UTF-8
				C:
				C: Caf=C3=A9 au lait
				C: ..hidden line
				C: ...two
				C: end
				C: .
				S: 250 2.0.0 Ok: queued as 1
				C: QUIT
				S: 221 2.0.0 Bye`,
			apart: []string{"MAIL FROM:<brief@example.org>\r\n", "RCPT TO:<r1@example.net>\r\n", "DATA\r\n"},
		},
		{
			name: "PIPELINING and 8BITMIME",
			script: `
				S: 220 relay.test ESMTP
				C: EHLO $HOST
				S: 250-relay.test
				S: 250-PIPELINING
				S: 250-8BITMIME
				S: 250 SIZE 10240000
				C: MAIL FROM:<brief@example.org> BODY=8BITMIME
				C: RCPT TO:<r1@example.net>
				C: DATA
				S: 250 2.1.0 Ok
				S: 250 2.1.5 Ok
				S: 354 End data with <CR><LF>.<CR><LF>
				C: Date: Tue, 01 Dec 2026 07:00:00 +0000
				C: MIME-Version: 1.0
				C: Message-ID: <r1@example.org>
				C: Subject: Digest
				C: From: "Brief" <brief@example.org>
				C: To: <r1@example.net>
				C: Content-Transfer-Encoding: 8bit
				C: Content-Type: text/plain; charset=UTF-8
				C:
				C: Café au lait
				C: ..hidden line
				C: ...two
				C: end
				C: .
				S: 250 2.0.0 Ok: queued as 1
				C: QUIT
				S: 221 2.0.0 Bye`,
			together: "MAIL FROM:<brief@example.org> BODY=8BITMIME\r\nRCPT TO:<r1@example.net>\r\nDATA\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, probeScript, tt.script)
			got, err := runSend(t, r.opts(), textJob("r1", "r1@example.net", dotBody))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkOutcomes(t, got, []outcomeWant{{"r1", syndicate.DeliverySent, ""}})
			r.check(t)
			reads := r.readsOf(1)
			if tt.together != "" && !slices.Contains(reads, tt.together) {
				t.Errorf("the envelope did not come in one write: the reads were\n%s", lines(strings.Join(reads, "|\n")))
			}
			for _, a := range tt.apart {
				if !slices.Contains(reads, a) {
					t.Errorf("%q did not come alone: the reads were\n%s", a, lines(strings.Join(reads, "|\n")))
				}
			}
		})
	}
}

// sendCase is a send against scripted connections (after the probe's).
type sendCase struct {
	name     string
	scripts  []string
	jobs     int
	opts     func(*SMTPOptions)
	want     []outcomeWant
	wantErr  error  // nil: Send returns nil
	wantHint string // in the *SetupError's Hint
}

func (c sendCase) run(t *testing.T) {
	r := startRelay(t, append([]string{probeScript}, c.scripts...)...)
	opts := r.opts()
	if c.opts != nil {
		c.opts(&opts)
	}
	got, err := runSend(t, opts, jobs(c.jobs)...)
	checkSetupError(t, err, c.wantErr, c.wantHint)
	checkOutcomes(t, got, c.want)
	r.check(t)
}

func checkSetupError(t *testing.T, err, wantErr error, wantHint string) {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Errorf("Send: %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("Send: %v, want %v", err, wantErr)
	}
	var se *SetupError
	if !errors.As(err, &se) {
		t.Fatalf("Send: %T %v, want a *SetupError", err, err)
	}
	if !strings.Contains(se.Hint, wantHint) {
		t.Errorf("hint %q, want it to mention %q", se.Hint, wantHint)
	}
}

const (
	ok250   = "250 2.1.0 Ok"
	rcpt250 = "250 2.1.5 Ok"
	go354   = "354 End data with <CR><LF>.<CR><LF>"
	rset    = `
		C: RSET
		S: 250 2.0.0 Ok`
	temp451 = "451 4.7.1 <r1@example.net>: Recipient address rejected: try again later"
	perm550 = "550 5.1.1 <r1@example.net>: Recipient address rejected: User unknown"
	noRcpts = "554 5.5.1 Error: no valid recipients"
)

var pipe = greet("PIPELINING", "8BITMIME")

// TestSend_Replies: each reply the relay can give, what the reader's
// outcome is and what happens to the connection: a refusal resets the
// transaction (RSET) and the next message goes out on the same
// connection; 421 and a cut connection make a new one; a 5xx to MAIL FROM
// stops the send with no outcome for the reader.
func TestSend_Replies(t *testing.T) {
	tests := []sendCase{
		{
			name:    "250: sent",
			scripts: []string{pipe + accepted("r1@example.net", "8BITMIME") + quitScript},
			jobs:    1,
			want:    []outcomeWant{{"r1", syndicate.DeliverySent, ""}},
		},
		{
			name: "451 to RCPT: temp, RSET, the next message on the same connection",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", ok250, temp451, noRcpts) + rset +
				accepted("r2@example.net", "8BITMIME") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, temp451}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "451 to RCPT one at a time: temp, RSET, the same connection",
			scripts: []string{greet() + `
				C: MAIL FROM:<brief@example.org>
				S: 250 2.1.0 Ok
				C: RCPT TO:<r1@example.net>
				S: ` + temp451 + rset + acceptedOneByOne("r2@example.net") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, temp451}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "550 to RCPT: failed, RSET, the same connection",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", ok250, perm550, noRcpts) + rset +
				accepted("r2@example.net", "8BITMIME") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryFailed, perm550}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "550 to RCPT one at a time: failed, RSET, the same connection",
			scripts: []string{greet() + `
				C: MAIL FROM:<brief@example.org>
				S: 250 2.1.0 Ok
				C: RCPT TO:<r1@example.net>
				S: ` + perm550 + rset + acceptedOneByOne("r2@example.net") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryFailed, perm550}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "421 to RCPT: temp, a new connection",
			scripts: []string{
				pipe + `
					C: MAIL FROM:<brief@example.org> BODY=8BITMIME
					C: RCPT TO:<r1@example.net>
					C: DATA
					S: 250 2.1.0 Ok
					S: 421 4.7.0 relay.test Error: too many errors
					CUT`,
				pipe + accepted("r2@example.net", "8BITMIME") + quitScript,
			},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, "421 4.7.0 relay.test Error: too many errors"}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "421 to MAIL FROM one at a time: temp, a new connection",
			scripts: []string{
				greet() + `
					C: MAIL FROM:<brief@example.org>
					S: 421 4.3.2 Service shutting down
					CUT`,
				greet() + acceptedOneByOne("r2@example.net") + quitScript,
			},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, "421 4.3.2 Service shutting down"}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "451 to MAIL FROM: temp, RSET, the same connection",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", "451 4.3.0 Temporary lookup failure", "503 5.5.1 Error: need MAIL command", "503 5.5.1 Error: need RCPT command") +
				rset + accepted("r2@example.net", "8BITMIME") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, "451 4.3.0 Temporary lookup failure"}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "451 to DATA one at a time: temp, RSET, the same connection",
			scripts: []string{greet() + `
				C: MAIL FROM:<brief@example.org>
				S: 250 2.1.0 Ok
				C: RCPT TO:<r1@example.net>
				S: 250 2.1.5 Ok
				C: DATA
				S: 451 4.3.0 Try later` + rset + acceptedOneByOne("r2@example.net") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, "451 4.3.0 Try later"}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "552 to the final dot: failed, the same connection, no RSET",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", ok250, rcpt250, go354) + `
				D
				S: 552 5.3.4 Message size exceeds fixed limit` +
				accepted("r2@example.net", "8BITMIME") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryFailed, "552 5.3.4 Message size exceeds fixed limit"}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "cut after the final dot: temp (the outcome is unknown), a new connection",
			scripts: []string{
				pipe + envelope("r1@example.net", "8BITMIME", ok250, rcpt250, go354) + `
					D
					CUT`,
				pipe + accepted("r2@example.net", "8BITMIME") + quitScript,
			},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, anyReply}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "cut before the reply to the envelope: temp, a new connection",
			scripts: []string{
				pipe + `
					C: MAIL FROM:<brief@example.org> BODY=8BITMIME
					C: RCPT TO:<r1@example.net>
					C: DATA
					CUT`,
				pipe + accepted("r2@example.net", "8BITMIME") + quitScript,
			},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, anyReply}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "RCPT refused but DATA 354: an empty message ends it, the refusal reported",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", ok250, perm550, go354) + `
				C: .
				S: ` + noRcpts + rset + accepted("r2@example.net", "8BITMIME") + quitScript},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryFailed, perm550}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "RSET refused: a new connection",
			scripts: []string{
				pipe + envelope("r1@example.net", "8BITMIME", ok250, temp451, noRcpts) + `
					C: RSET
					S: 500 5.5.2 Error: command not recognized`,
				pipe + accepted("r2@example.net", "8BITMIME") + quitScript,
			},
			jobs: 2,
			want: []outcomeWant{{"r1", syndicate.DeliveryTemp, temp451}, {"r2", syndicate.DeliverySent, ""}},
		},
		{
			name: "5xx to MAIL FROM: the send stops, the reader gets no outcome",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", "553 5.7.1 <brief@example.org>: Sender address rejected: not owned by user",
				"503 5.5.1 Error: need MAIL command", "503 5.5.1 Error: need RCPT command") + quitScript},
			jobs:     2,
			wantErr:  ErrRefused,
			wantHint: "email.from",
		},
		{
			name: "5xx to MAIL FROM one at a time: the send stops, no outcome",
			scripts: []string{greet() + `
				C: MAIL FROM:<brief@example.org>
				S: 550 5.7.1 Client host rejected: access denied` + quitScript},
			jobs:     2,
			wantErr:  ErrRefused,
			wantHint: "email.from",
		},
		{
			name: "5xx to MAIL FROM but DATA 354: an empty message, then the send stops",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", "550 5.7.1 Sender rejected", "503 5.5.1 Error: need MAIL command", go354) + `
				C: .
				S: 554 5.5.1 Error: no valid recipients` + quitScript},
			jobs:     1,
			wantErr:  ErrRefused,
			wantHint: "email.from",
		},
		{
			name: "530 to MAIL FROM: the hint says starttls",
			scripts: []string{pipe + envelope("r1@example.net", "8BITMIME", "530 5.7.0 Must issue a STARTTLS command first",
				"503 5.5.1 Error: need MAIL command", "503 5.5.1 Error: need RCPT command") + quitScript},
			jobs:     1,
			wantErr:  ErrRefused,
			wantHint: "email.smtp.tls: starttls",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// TestSend_Auth: a refused login is recognised by its reply code and not
// retried; the relay sees one AUTH and then QUIT.
func TestSend_Auth(t *testing.T) {
	login := func(o *SMTPOptions) { o.Username, o.Password = "user", "secret" }
	auth := func(reply string) string {
		return greet("PIPELINING", "AUTH PLAIN LOGIN") + `
			C: AUTH PLAIN AHVzZXIAc2VjcmV0
			S: ` + reply
	}
	aborted := `
		C: *
		S: 501 5.7.0 Authentication aborted` + quitScript
	tests := []sendCase{
		{
			name:    "235: logged in, sent",
			scripts: []string{auth("235 2.7.0 Authentication successful") + accepted("r1@example.net", "") + quitScript},
			jobs:    1, opts: login,
			want: []outcomeWant{{"r1", syndicate.DeliverySent, ""}},
		},
		{
			name:    "535: ErrAuth, not retried",
			scripts: []string{auth("535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6") + aborted},
			jobs:    2, opts: login,
			wantErr: ErrAuth, wantHint: "email.smtp.username",
		},
		{
			name:    "534: ErrAuth",
			scripts: []string{auth("534 5.7.9 Please log in with your web browser") + aborted},
			jobs:    1, opts: login,
			wantErr: ErrAuth, wantHint: "password",
		},
		{
			name:    "530 to AUTH: ErrRefused, the hint says starttls",
			scripts: []string{auth("530 5.7.0 Must issue a STARTTLS command first") + aborted},
			jobs:    1, opts: login,
			wantErr: ErrRefused, wantHint: "starttls",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}
