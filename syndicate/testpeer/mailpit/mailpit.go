// Package mailpit runs a private, real Mailpit SMTP server (v1.33.1) for
// tests and reads back what it received through its REST API.
//
// Start launches the binary that e2e/mailpit/install.sh put in the peers
// cache on free 127.0.0.1 ports, with its database in a temporary folder,
// and stops it (the whole process group) when the test ends. Options turn
// on TLS (STARTTLS offered, STARTTLS required, or implicit TLS) with a
// certificate made by the test's own CA, SMTP authentication, and chaos
// (random SMTP error replies).
//
// The binary is looked up in this order: $SYNDICATE_MAILPIT_BIN,
// $SYNDICATE_MAILPIT_DIR/mailpit, then
// ${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}/mailpit-v1.33.1/mailpit.
// When it is missing the test is skipped, or fails when
// SYNDICATE_REQUIRE_PEERS=1.
//
// Mailpit is started so that it never reaches out on its own: no version
// check, no reverse DNS, no remote CSS for the HTML check. Only the link
// check makes requests, and only when asked (see LinkCheck).
package mailpit

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the Mailpit release the harness is written for.
const Version = "v1.33.1"

// startTimeout bounds the wait for Mailpit to answer on both ports.
const startTimeout = 60 * time.Second

// TLSMode says how the SMTP port uses TLS.
type TLSMode int

const (
	// NoTLS: plain SMTP, no STARTTLS offered (the default).
	NoTLS TLSMode = iota
	// STARTTLSOptional: STARTTLS is offered, plain SMTP is accepted too.
	STARTTLSOptional
	// STARTTLSRequired: STARTTLS is offered and MAIL/RCPT/DATA/AUTH before
	// it are refused with "530 5.7.0 Must issue a STARTTLS command first"
	// (--smtp-require-starttls).
	STARTTLSRequired
	// ImplicitTLS: the port speaks TLS from the first byte, SMTPS style
	// (--smtp-require-tls).
	ImplicitTLS
)

func (m TLSMode) String() string {
	switch m {
	case NoTLS:
		return "no TLS"
	case STARTTLSOptional:
		return "STARTTLS optional"
	case STARTTLSRequired:
		return "STARTTLS required"
	case ImplicitTLS:
		return "implicit TLS"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// Option configures Start.
type Option func(*config)

type config struct {
	tls           TLSMode
	user, pass    string
	acceptAny     bool
	allowInsecure bool
	internalHTTP  bool
	chaos         bool
	verbose       bool
	args          []string
}

// WithTLS serves SMTP with TLS in the given mode. The certificate (for
// 127.0.0.1, ::1 and localhost) is signed by a CA made for this test; its
// PEM is at Server.CAFile and Server.TLSConfig trusts it.
func WithTLS(mode TLSMode) Option { return func(c *config) { c.tls = mode } }

// WithAuth makes SMTP authentication (PLAIN, LOGIN) mandatory with this one
// user (--smtp-auth-file). Mailpit then also requires STARTTLS unless
// WithAuthAllowInsecure is given; without any TLS it refuses to start
// unless WithAuthAllowInsecure is given.
func WithAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithAuthAcceptAny offers AUTH and accepts any user name and password;
// authentication stays optional (--smtp-auth-accept-any). Needs TLS or
// WithAuthAllowInsecure.
func WithAuthAcceptAny() Option { return func(c *config) { c.acceptAny = true } }

// WithAuthAllowInsecure allows PLAIN and LOGIN without TLS
// (--smtp-auth-allow-insecure). Mailpit refuses it together with
// STARTTLSRequired or ImplicitTLS.
func WithAuthAllowInsecure() Option { return func(c *config) { c.allowInsecure = true } }

// WithInternalHTTP lets the link check reach 127.0.0.1 and other private
// addresses (--allow-internal-http-requests), so links to a test's
// httptest server get their real status instead of 451.
func WithInternalHTTP() Option { return func(c *config) { c.internalHTTP = true } }

// WithChaos enables the chaos API (--enable-chaos); see Server.SetChaos.
func WithChaos() Option { return func(c *config) { c.chaos = true } }

// WithVerbose logs every SMTP command and reply to Server.LogFile (-v).
func WithVerbose() Option { return func(c *config) { c.verbose = true } }

// WithArgs appends raw command-line flags, for anything the other options
// do not cover.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is a running Mailpit.
type Server struct {
	SMTPHost string // always "127.0.0.1"
	SMTPPort int
	APIURL   string // e.g. "http://127.0.0.1:34567", no trailing slash
	TLS      TLSMode
	// CAFile is the PEM file of the CA that signed the SMTP certificate
	// ("" without TLS); CAPEM is its content.
	CAFile string
	CAPEM  []byte
	// Username and Password are the credentials of WithAuth.
	Username, Password string
	Dir                string // Mailpit's temporary folder (database, log, keys)
	LogFile            string // Mailpit's stdout and stderr

	http *http.Client
	proc *process
}

// SMTPAddr is "127.0.0.1:port".
func (s *Server) SMTPAddr() string {
	return net.JoinHostPort(s.SMTPHost, strconv.Itoa(s.SMTPPort))
}

// TLSConfig trusts only the test CA and names the server 127.0.0.1, ready
// for go-mail's WithTLSConfig. It is nil without TLS.
func (s *Server) TLSConfig() *tls.Config {
	if s.CAPEM == nil {
		return nil
	}
	return tlsConfig(s.CAPEM, s.SMTPHost)
}

// Log returns what Mailpit has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogFile)
	return string(b)
}

// Binary returns the path of the installed Mailpit, or an error saying how
// to install it.
func Binary() (string, error) {
	path := os.Getenv("SYNDICATE_MAILPIT_BIN")
	if path == "" {
		if d := os.Getenv("SYNDICATE_MAILPIT_DIR"); d != "" {
			path = filepath.Join(d, "mailpit")
		} else {
			root := os.Getenv("SYNDICATE_PEERS_DIR")
			if root == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return "", fmt.Errorf("mailpit: not installed (no home folder: %v); run e2e/mailpit/install.sh", err)
				}
				root = filepath.Join(home, ".cache", "syndicate-peers")
			}
			path = filepath.Join(root, "mailpit-"+Version, "mailpit")
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("mailpit: not installed (no executable %s); run e2e/mailpit/install.sh", path)
	}
	return path, nil
}

// Start runs a fresh Mailpit for this test and waits until both its SMTP
// and HTTP ports answer. t.Cleanup stops it.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("SYNDICATE_REQUIRE_PEERS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := &Server{SMTPHost: "127.0.0.1", TLS: c.tls, Dir: t.TempDir()}
	s.LogFile = filepath.Join(s.Dir, "mailpit.log")
	s.http = &http.Client{Timeout: 2 * time.Minute}

	var fixed []string
	if c.tls != NoTLS {
		certFile, keyFile, caFile, caPEM, err := writeCerts(s.Dir)
		if err != nil {
			t.Fatalf("mailpit: certificates: %v", err)
		}
		s.CAFile, s.CAPEM = caFile, caPEM
		fixed = append(fixed, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile)
		switch c.tls {
		case STARTTLSRequired:
			fixed = append(fixed, "--smtp-require-starttls")
		case ImplicitTLS:
			fixed = append(fixed, "--smtp-require-tls")
		}
	}
	if c.user != "" {
		// htpasswd file; mailpit accepts plain-text passwords in it.
		f := filepath.Join(s.Dir, "smtp-auth")
		if err := os.WriteFile(f, []byte(c.user+":"+c.pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fixed = append(fixed, "--smtp-auth-file", f)
		s.Username, s.Password = c.user, c.pass
	}
	if c.acceptAny {
		fixed = append(fixed, "--smtp-auth-accept-any")
	}
	if c.allowInsecure {
		fixed = append(fixed, "--smtp-auth-allow-insecure")
	}
	if c.internalHTTP {
		fixed = append(fixed, "--allow-internal-http-requests")
	}
	if c.chaos {
		fixed = append(fixed, "--enable-chaos")
	}
	if c.verbose {
		fixed = append(fixed, "--verbose")
	}
	fixed = append(fixed, c.args...)

	// A free port found by listening on :0 may be taken before Mailpit
	// binds it; then Mailpit exits at once and we try other ports.
	deadline := time.Now().Add(startTimeout)
	for attempt := 1; ; attempt++ {
		err := s.start(t, bin, fixed, deadline)
		if err == nil {
			return s
		}
		var busy errPortBusy
		if !errors.As(err, &busy) || attempt == 5 || time.Now().After(deadline) {
			t.Fatalf("mailpit: %v\n--- mailpit log (%s) ---\n%s", err, s.LogFile, tail(s.Log(), 8000))
		}
	}
}

type errPortBusy struct{ error }

func (s *Server) start(t testing.TB, bin string, fixed []string, deadline time.Time) error {
	smtpPort, httpPort, err := freePorts()
	if err != nil {
		return err
	}
	s.SMTPPort = smtpPort
	s.APIURL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	args := []string{
		"--smtp", s.SMTPAddr(),
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--database", filepath.Join(s.Dir, "mailpit.db"),
		"--max", "0", // keep every message (the default prunes past 500)
		"--disable-version-check",
		"--smtp-disable-rdns",
		"--block-remote-css-and-fonts",
	}
	args = append(args, fixed...)

	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "$ %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	s.proc = p
	t.Cleanup(p.stop)

	for {
		select {
		case <-p.done:
			log := s.Log()
			if strings.Contains(log, "address already in use") {
				return errPortBusy{fmt.Errorf("ports %d/%d taken: %v", smtpPort, httpPort, p.err)}
			}
			return fmt.Errorf("exited before it was ready: %v", p.err)
		default:
		}
		if s.ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready on SMTP %s and HTTP %s after %v", s.SMTPAddr(), s.APIURL, startTimeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// ready reports whether /readyz answers 200 and the SMTP port greets with
// 220 (over TLS for ImplicitTLS).
func (s *Server) ready() bool {
	resp, err := s.http.Get(s.APIURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.Dial("tcp", s.SMTPAddr())
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if s.TLS == ImplicitTLS {
		tc := tls.Client(conn, s.TLSConfig())
		if tc.Handshake() != nil {
			return false
		}
		conn = tc
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err == nil && strings.HasPrefix(line, "220") {
		io.WriteString(conn, "QUIT\r\n")
		return true
	}
	return false
}

// process is the running Mailpit.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	once sync.Once
}

// stop ends Mailpit's process group: SIGTERM, then SIGKILL after 5 s.
func (p *process) stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		terminate(p.cmd)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			kill(p.cmd)
			<-p.done
		}
	})
}

// freePorts returns two distinct free TCP ports on 127.0.0.1.
func freePorts() (int, int, error) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	b, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	return a.Addr().(*net.TCPAddr).Port, b.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the test's environment without Mailpit's MP_* settings, which
// would otherwise change its behaviour behind the flags' back.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}
