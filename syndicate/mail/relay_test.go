package mail

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// relay is a scripted SMTP server for transcript tests, after emersion/
// go-smtp's client_test.go, but on a real socket on 127.0.0.1 because
// go-mail dials TCP. The n-th connection it accepts plays the n-th script,
// a transcript of the conversation:
//
//	S: 250 2.1.0 Ok    the relay writes the line (consecutive S lines in one write)
//	C: RSET            the relay reads one line from the client and records it
//	D                  the relay reads a DATA body through its "." line
//	TLS                the relay does a server-side TLS handshake
//	CUT                the relay closes the connection
//
// $HOST in a line is the name go-mail says EHLO with. What the client sends
// is recorded byte for byte; check compares it with the script's C lines
// (a D step records "<DATA>" and keeps the body apart, see bodies). When a
// script is played out, the relay records whatever else the client sends
// until it closes the connection, so an extra command shows in the diff,
// and so does a connection the client never closes.
//
// Before each reply the relay checks that the client has sent nothing the
// script has not read yet: a client that should wait for a reply and does
// not is caught. The other way round, a client that waits where the script
// has it send ahead (PIPELINING) stalls until its timeout and the test
// fails.
type relay struct {
	Host string
	Port int

	ln         net.Listener
	tlsConfig  *tls.Config // for TLS steps; nil: the good certificate
	scripts    [][]step
	acceptDone chan struct{}
	wg         sync.WaitGroup

	mu     sync.Mutex
	got    []*strings.Builder // per connection: what the client sent
	reads  [][]string         // per connection: each Read as it came
	bodies []string           // the DATA bodies of D steps, in order
	open   []net.Conn
}

type step struct {
	op   string // S, C, D, TLS, CUT
	text string
}

var ehloName = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil {
		panic(err)
	}
	return h
})

func parseScript(script string) []step {
	var steps []step
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimLeft(line, " \t")
		switch {
		case line == "":
		case strings.HasPrefix(line, "S:"), strings.HasPrefix(line, "C:"):
			text := strings.TrimPrefix(line[2:], " ")
			steps = append(steps, step{op: line[:1], text: strings.ReplaceAll(text, "$HOST", ehloName())})
		case line == "D", line == "TLS", line == "CUT":
			steps = append(steps, step{op: line})
		default:
			panic("a script line that is none of S:, C:, D, TLS, CUT: " + line)
		}
	}
	return steps
}

// unexpected is played to a connection beyond the scripts.
var unexpected = parseScript("S: 421 4.3.0 no script for this connection\nCUT")

// startRelay listens on 127.0.0.1 and plays one script per connection.
func startRelay(t *testing.T, scripts ...string) *relay {
	return startRelayTLS(t, nil, scripts...)
}

// startRelayTLS is startRelay with the certificate TLS steps present.
func startRelayTLS(t *testing.T, cfg *tls.Config, scripts ...string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &tls.Config{Certificates: []tls.Certificate{testCerts().good}}
	}
	r := &relay{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, tlsConfig: cfg, acceptDone: make(chan struct{})}
	for _, s := range scripts {
		r.scripts = append(r.scripts, parseScript(s))
	}
	go r.accept()
	t.Cleanup(func() {
		r.ln.Close()
		<-r.acceptDone
		r.mu.Lock()
		for _, c := range r.open {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) accept() {
	defer close(r.acceptDone)
	for i := 0; ; i++ {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		steps := unexpected
		if i < len(r.scripts) {
			steps = r.scripts[i]
		}
		r.mu.Lock()
		r.got = append(r.got, &strings.Builder{})
		r.reads = append(r.reads, nil)
		r.open = append(r.open, c)
		r.mu.Unlock()
		r.wg.Add(1)
		go r.serve(i, c, steps)
	}
}

// readLog records every Read of a connection.
type readLog struct {
	net.Conn
	r *relay
	i int
}

func (l readLog) Read(p []byte) (int, error) {
	n, err := l.Conn.Read(p)
	if n > 0 {
		l.r.mu.Lock()
		l.r.reads[l.i] = append(l.r.reads[l.i], string(p[:n]))
		l.r.mu.Unlock()
	}
	return n, err
}

func (r *relay) record(i int, s string) {
	r.mu.Lock()
	r.got[i].WriteString(s)
	r.mu.Unlock()
}

func (r *relay) serve(i int, c net.Conn, steps []step) {
	defer r.wg.Done()
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(readLog{c, r, i})
	var out []byte
	flush := func() {
		if len(out) == 0 {
			return
		}
		if br.Buffered() > 0 {
			r.record(i, "<the client did not wait for the reply>\r\n")
		}
		c.Write(out) // a client that has gone is seen at the next read
		out = out[:0]
	}
	readErr := func(err error) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.record(i, "<the client kept the connection open>")
		}
	}
	for _, st := range steps {
		switch st.op {
		case "S":
			out = append(out, st.text+"\r\n"...)
		case "C":
			flush()
			line, err := br.ReadString('\n')
			r.record(i, line)
			if err != nil {
				readErr(err)
				return
			}
		case "D":
			flush()
			var body strings.Builder
			for {
				line, err := br.ReadString('\n')
				body.WriteString(line)
				if err != nil {
					r.record(i, body.String())
					readErr(err)
					return
				}
				if line == ".\r\n" {
					break
				}
			}
			r.mu.Lock()
			r.bodies = append(r.bodies, body.String())
			r.mu.Unlock()
			r.record(i, "<DATA>\r\n")
		case "TLS":
			flush()
			tc := tls.Server(c, r.tlsConfig)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			br = bufio.NewReader(readLog{tc, r, i})
		case "CUT":
			flush()
			return
		}
	}
	flush()
	rest, err := io.ReadAll(br)
	r.record(i, string(rest))
	readErr(err)
}

// wants is what each script has the client send.
func (r *relay) wants() []string {
	var want []string
	for _, steps := range r.scripts {
		var b strings.Builder
		for _, st := range steps {
			switch st.op {
			case "C":
				b.WriteString(st.text + "\r\n")
			case "D":
				b.WriteString("<DATA>\r\n")
			}
		}
		want = append(want, b.String())
	}
	return want
}

// finish stops the relay and waits for every connection to end: the
// recordings are complete after it.
func (r *relay) finish() {
	r.ln.Close()
	<-r.acceptDone
	r.wg.Wait()
}

// transcripts is what the client sent on each connection.
func (r *relay) transcripts() []string {
	r.finish()
	r.mu.Lock()
	defer r.mu.Unlock()
	var got []string
	for _, b := range r.got {
		got = append(got, b.String())
	}
	return got
}

// connections is the number of connections the relay accepted.
func (r *relay) connections() int {
	r.finish()
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// check compares what the client sent, connection by connection, with the
// scripts.
func (r *relay) check(t *testing.T) {
	t.Helper()
	got, want := r.transcripts(), r.wants()
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(want):
			t.Errorf("connection %d: the client made a connection the script does not expect; it sent:\n%s", i, lines(got[i]))
		case i >= len(got):
			t.Errorf("connection %d: the client never made it; want it to send:\n%s", i, lines(want[i]))
		case got[i] != want[i]:
			t.Errorf("connection %d: the client sent:\n%s\nwant:\n%s", i, lines(got[i]), lines(want[i]))
		}
	}
}

// body is the n-th DATA body read by a D step, as on the wire.
func (r *relay) body(t *testing.T, n int) string {
	t.Helper()
	r.finish()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n >= len(r.bodies) {
		t.Fatalf("the relay read %d DATA bodies, want at least %d", len(r.bodies), n+1)
	}
	return r.bodies[n]
}

// readsOf is each Read of connection i as it came off the socket.
func (r *relay) readsOf(i int) []string {
	r.finish()
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.reads) {
		return nil
	}
	return append([]string(nil), r.reads[i]...)
}

// lines quotes a transcript a line at a time, so CR and LF show.
func lines(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			fmt.Fprintf(&b, "\t%q\n", l)
		}
	}
	return b.String()
}

// opts are the options for a relay: plain SMTP on localhost, one
// connection, a timeout that only a stuck test reaches.
func (r *relay) opts() SMTPOptions {
	return SMTPOptions{Host: r.Host, Port: r.Port, TLS: "none", Connections: 1, Timeout: 5 * time.Second, DialRetries: 1}
}

// Script parts.
const (
	// probeScript answers the TLS probe of a plain relay: it reads the
	// greeting and says QUIT without waiting for the reply.
	probeScript = `
		S: 220 relay.test ESMTP
		C: QUIT
		S: 221 2.0.0 Bye`
	// probeTLSScript is the probe of an implicit-TLS relay: the
	// handshake, then QUIT without reading the greeting.
	probeTLSScript = `
		TLS
		S: 220 relay.test ESMTP
		C: QUIT
		S: 221 2.0.0 Bye`
	quitScript = `
		C: QUIT
		S: 221 2.0.0 Bye`
)

// greet is the greeting and the EHLO exchange offering exts.
func greet(exts ...string) string {
	s := "S: 220 relay.test ESMTP\nC: EHLO $HOST\n"
	if len(exts) == 0 {
		return s + "S: 250 relay.test\n"
	}
	s += "S: 250-relay.test\n"
	for i, e := range exts {
		if i == len(exts)-1 {
			s += "S: 250 " + e + "\n"
		} else {
			s += "S: 250-" + e + "\n"
		}
	}
	return s
}

// envelope is a pipelined MAIL FROM, RCPT TO and DATA for rcpt, with the
// relay's three replies.
func envelope(rcpt, body, mailReply, rcptReply, dataReply string) string {
	if body != "" {
		body = " BODY=" + body
	}
	return fmt.Sprintf(`
		C: MAIL FROM:<brief@example.org>%s
		C: RCPT TO:<%s>
		C: DATA
		S: %s
		S: %s
		S: %s
	`, body, rcpt, mailReply, rcptReply, dataReply)
}

// accepted is a pipelined envelope the relay accepts, the body and 250.
func accepted(rcpt, body string) string {
	return envelope(rcpt, body, "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>") + `
		D
		S: 250 2.0.0 Ok: queued`
}

// acceptedOneByOne is accepted for a relay without PIPELINING.
func acceptedOneByOne(rcpt string) string {
	return `
		C: MAIL FROM:<brief@example.org>
		S: 250 2.1.0 Ok
		C: RCPT TO:<` + rcpt + `>
		S: 250 2.1.5 Ok
		C: DATA
		S: 354 End data with <CR><LF>.<CR><LF>
		D
		S: 250 2.0.0 Ok: queued`
}

var testDate = time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)

// textJob is a one-part text message to rcpt with a Message-ID from key.
func textJob(key, rcpt, body string) Job {
	return Job{Key: key, Build: func(enc gomail.Encoding) (*gomail.Msg, error) {
		m := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithEncoding(enc))
		if err := m.From("Brief <brief@example.org>"); err != nil {
			return nil, err
		}
		if err := m.To(rcpt); err != nil {
			return nil, err
		}
		m.Subject("Digest")
		m.SetDateWithValue(testDate)
		m.SetMessageIDWithValue(key + "@example.org")
		m.SetBodyString(gomail.TypeTextPlain, body)
		return m, nil
	}}
}

// jobs is n text jobs to r1@example.net … rn@example.net.
func jobs(n int) []Job {
	var js []Job
	for i := 1; i <= n; i++ {
		js = append(js, textJob(fmt.Sprintf("r%d", i), fmt.Sprintf("r%d@example.net", i), "Hello\n"))
	}
	return js
}

// runSend sends the jobs and returns the outcomes in the order they came.
func runSend(t *testing.T, opts SMTPOptions, js ...Job) ([]syndicate.Outcome, error) {
	t.Helper()
	ch := make(chan Job, len(js))
	for _, j := range js {
		ch <- j
	}
	close(ch)
	out := make(chan syndicate.Outcome, len(js))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := Send(ctx, opts, ch, out)
	close(out)
	var got []syndicate.Outcome
	for o := range out {
		got = append(got, o)
	}
	return got, err
}

// Certificates for the TLS tests, made once: good is for 127.0.0.1,
// wrongName for relay.test only, expired for 127.0.0.1 but out of date.
// Each is self-signed; pool trusts all three.
type certs struct {
	good, wrongName, expired tls.Certificate
	pool                     *x509.CertPool
}

var testCerts = sync.OnceValue(func() certs {
	var c certs
	c.pool = x509.NewCertPool()
	now := time.Now()
	mk := func(serial int64, ips []net.IP, names []string, from, until time.Time) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "relay test " + fmt.Sprint(serial)},
			NotBefore: from, NotAfter: until, IPAddresses: ips, DNSNames: names,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true, IsCA: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		c.pool.AddCert(leaf)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	}
	local := []net.IP{net.IPv4(127, 0, 0, 1)}
	c.good = mk(1, local, nil, now.Add(-time.Hour), now.Add(time.Hour))
	c.wrongName = mk(2, nil, []string{"relay.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	c.expired = mk(3, local, nil, now.Add(-2*time.Hour), now.Add(-time.Hour))
	return c
})

// outcomeWant is a reader's expected outcome; reply anyReply accepts any
// non-empty reply (a broken connection's error text).
type outcomeWant struct{ key, state, reply string }

const anyReply = "(any)"

func checkOutcomes(t *testing.T, got []syndicate.Outcome, want []outcomeWant) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d outcomes %+v, want %d %+v", len(got), got, len(want), want)
		return
	}
	for i, w := range want {
		g := got[i]
		wantReply := asReply(w.reply)
		okReply := g.Reply == wantReply || (w.reply == anyReply && g.Reply != "")
		if g.Key != w.key || g.State != w.state || !okReply {
			t.Errorf("outcome %d = {%s %s %q}, want {%s %s %q}", i, g.Key, g.State, g.Reply, w.key, w.state, wantReply)
		}
	}
}

// asReply is the outcome's Reply for a relay's reply line ("451 4.7.1
// …"): the text of the *textproto.Error it comes as, however this Go
// quotes it.
func asReply(line string) string {
	code, err := strconv.Atoi(line[:min(3, len(line))])
	if err != nil || len(line) < 4 || line[3] != ' ' {
		return line
	}
	return (&textproto.Error{Code: code, Msg: line[4:]}).Error()
}
