package mail

import (
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/mail/smtptest"
)

// TestSend_Rate: email.smtp.rate holds over all connections together: n
// messages at r a second take at least (n-1)/r (the first goes at once).
// Only the lower bound is checked: a slow machine is slower, never faster.
func TestSend_Rate(t *testing.T) {
	tests := []struct {
		rate        float64
		messages    int
		connections int
		atLeast     time.Duration
	}{
		{rate: 50, messages: 6, connections: 1, atLeast: 100 * time.Millisecond},
		{rate: 50, messages: 6, connections: 3, atLeast: 100 * time.Millisecond},
		{rate: 20, messages: 3, connections: 2, atLeast: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		srv, err := smtptest.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		opts := SMTPOptions{Host: srv.Host, Port: srv.Port, TLS: "none", Connections: tt.connections, Rate: tt.rate, Timeout: 5 * time.Second}
		start := time.Now()
		got, err := runSend(t, opts, jobs(tt.messages)...)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("rate %v: Send: %v", tt.rate, err)
		}
		sent := 0
		for _, o := range got {
			if o.State == syndicate.DeliverySent {
				sent++
			}
		}
		if sent != tt.messages || srv.Delivered() != tt.messages {
			t.Errorf("rate %v: %d sent, %d delivered, want %d", tt.rate, sent, srv.Delivered(), tt.messages)
		}
		if elapsed < tt.atLeast {
			t.Errorf("rate %v over %d connections: %d messages in %v, want at least %v", tt.rate, tt.connections, tt.messages, elapsed, tt.atLeast)
		}
	}
}
