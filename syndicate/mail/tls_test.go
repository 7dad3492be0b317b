package mail

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// TestSend_TLSMistakes: each way the relay's TLS can differ from the
// config ends the send at once with a *SetupError naming the setting to
// change, before any reader is tried. Most are found by the probe, the
// rest by the dial.
func TestSend_TLSMistakes(t *testing.T) {
	certs := testCerts()
	tests := []struct {
		name       string
		cert       tls.Certificate // the relay's, for its TLS steps
		scripts    []string
		tlsMode    string
		trusted    bool // opts.RootCAs trusts the test certificates
		wantErr    error
		wantHint   string
		wantDetail string
		check      bool // the transcripts are checked
	}{
		{
			name:    "a port that answers a handshake but never greets, with starttls: implicit TLS",
			cert:    certs.good,
			scripts: []string{"TLS", "TLS"}, // the probe waits for a greeting, then tries a handshake
			tlsMode: "starttls", trusted: true,
			wantErr: ErrTLS, wantHint: "implicit TLS: set email.smtp.tls: tls", wantDetail: "no greeting",
		},
		{
			name:    "a port that answers a handshake but never greets, with none: implicit TLS",
			cert:    certs.good,
			scripts: []string{"TLS", "TLS"},
			tlsMode: "none",
			wantErr: ErrTLS, wantHint: "implicit TLS", wantDetail: "no greeting",
		},
		{
			name:    "a plain greeting on a port set to tls: plain SMTP",
			scripts: []string{"S: 220 relay.test ESMTP"},
			tlsMode: "tls", trusted: true,
			wantErr: ErrTLS, wantHint: "speaks plain SMTP: set email.smtp.tls: starttls", wantDetail: "plain text",
		},
		{
			name:    "the greeting is 554: refused",
			scripts: []string{"S: 554 go away\nC: QUIT"},
			tlsMode: "none",
			wantErr: ErrRefused, wantHint: "will not take mail", wantDetail: "554 go away",
			check: true,
		},
		{
			name:    "tls with a certificate no CA of ours signed",
			cert:    certs.good,
			scripts: []string{"TLS"},
			tlsMode: "tls", trusted: false,
			wantErr: ErrTLS, wantHint: "email.smtp.ca_file", wantDetail: "authority",
		},
		{
			name:    "tls with a certificate for another name",
			cert:    certs.wrongName,
			scripts: []string{"TLS"},
			tlsMode: "tls", trusted: true,
			wantErr: ErrTLS, wantHint: "email.smtp.host", wantDetail: "not for 127.0.0.1",
		},
		{
			name:    "tls with an expired certificate",
			cert:    certs.expired,
			scripts: []string{"TLS"},
			tlsMode: "tls", trusted: true,
			wantErr: ErrTLS, wantHint: "renew", wantDetail: "not valid",
		},
		{
			name: "starttls with a certificate no CA of ours signed: found by the dial",
			cert: certs.good,
			scripts: []string{probeScript, greet("PIPELINING", "STARTTLS") + `
				C: STARTTLS
				S: 220 2.0.0 Ready to start TLS
				TLS`},
			tlsMode: "starttls", trusted: false,
			wantErr: ErrTLS, wantHint: "email.smtp.ca_file", wantDetail: "authority",
			check: true,
		},
		{
			// go-mail leaves this connection open: the transcript is not
			// checked (it would wait for the close).
			name:    "starttls against a relay without STARTTLS",
			scripts: []string{probeScript, greet("PIPELINING", "8BITMIME")},
			tlsMode: "starttls", trusted: true,
			wantErr: ErrTLS, wantHint: "does not offer STARTTLS", wantDetail: "STARTTLS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelayTLS(t, &tls.Config{Certificates: []tls.Certificate{tt.cert}}, tt.scripts...)
			opts := r.opts()
			opts.TLS = tt.tlsMode
			// The probe waits this long for a greeting that does not come.
			opts.Timeout = 300 * time.Millisecond
			if tt.trusted {
				opts.RootCAs = certs.pool
			}
			start := time.Now()
			got, err := runSend(t, opts, jobs(1)...)
			checkSetupError(t, err, tt.wantErr, tt.wantHint)
			var se *SetupError
			if errors.As(err, &se) && !strings.Contains(se.Detail, tt.wantDetail) {
				t.Errorf("detail %q, want it to mention %q", se.Detail, tt.wantDetail)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantDetail) {
				t.Errorf("Error() = %q, want the detail in it", err)
			}
			checkOutcomes(t, got, nil)
			// No retries with their backoff: a mistake is reported at once.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the mistake took %v to find", d)
			}
			if tt.check {
				r.check(t)
			}
		})
	}
}

// TestSend_OverTLS: a whole send over implicit TLS and over STARTTLS, with
// a certificate from email.smtp.ca_file and AUTH PLAIN (go-mail picks it
// once the connection is encrypted).
func TestSend_OverTLS(t *testing.T) {
	tlsEHLO := `
		C: EHLO $HOST
		S: 250-relay.test
		S: 250-PIPELINING
		S: 250-8BITMIME
		S: 250 AUTH PLAIN
		C: AUTH PLAIN AHVzZXIAc2VjcmV0
		S: 235 2.7.0 Authentication successful`
	tests := []struct {
		name    string
		tlsMode string
		scripts []string
	}{
		{
			name:    "implicit TLS",
			tlsMode: "tls",
			scripts: []string{probeTLSScript, "TLS\nS: 220 relay.test ESMTP" + tlsEHLO + accepted("r1@example.net", "8BITMIME") + quitScript},
		},
		{
			name:    "STARTTLS",
			tlsMode: "starttls",
			scripts: []string{probeScript, greet("PIPELINING", "STARTTLS") + `
				C: STARTTLS
				S: 220 2.0.0 Ready to start TLS
				TLS` + tlsEHLO + accepted("r1@example.net", "8BITMIME") + quitScript},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, tt.scripts...)
			opts := r.opts()
			opts.TLS, opts.RootCAs, opts.Username, opts.Password = tt.tlsMode, testCerts().pool, "user", "secret"
			got, err := runSend(t, opts, jobs(1)...)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkOutcomes(t, got, []outcomeWant{{"r1", syndicate.DeliverySent, ""}})
			r.check(t)
		})
	}
}
