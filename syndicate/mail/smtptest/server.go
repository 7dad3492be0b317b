// Package smtptest is a real SMTP server for tests (emersion/go-smtp on
// 127.0.0.1), with injected faults: a chosen reply to chosen recipients
// (451, 550, 421…), the connection dropped during DATA before the final
// "." (not delivered) or after it (delivered, the reply lost), the relay
// going down and up, and a hook on every delivery.
package smtptest

import (
	"errors"
	"io"
	"log"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is a delivered message.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Header returns a header of the message.
func (m Message) Header(name string) string {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return ""
	}
	return msg.Header.Get(name)
}

// Reply decides the answer to RCPT TO for a recipient on its n-th try
// (counting from 1); nil accepts it.
type Reply func(rcpt string, try int) *smtp.SMTPError

// Server is the test relay.
type Server struct {
	Addr string // host:port
	Host string
	Port int

	srv *smtp.Server
	ln  net.Listener

	mu          sync.Mutex
	messages    []Message
	tries       map[string]int
	reply       Reply
	dropBefore  int // next DATA commands to cut before the final "."
	dropAfter   int // next DATA commands to accept and then cut
	onDelivered func(count int)
	discard     bool
	delivered   int
	username    string // when set, AUTH PLAIN with these is required
	password    string
	authed      int
}

// New starts a server on 127.0.0.1.
func New() (*Server, error) {
	s := &Server{tries: map[string]int{}}
	s.srv = s.newSMTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.current().Close() }

// Down closes the listener and every connection: the relay dies.
func (s *Server) Down() { s.current().Close() }

func (s *Server) current() *smtp.Server { s.mu.Lock(); defer s.mu.Unlock(); return s.srv }

// newSMTPServer configures a go-smtp server for tests.
func (s *Server) newSMTPServer() *smtp.Server {
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0) // cut connections are the point
	return srv
}

// Up starts the relay again on the same port after Down.
func (s *Server) Up() error {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	srv := s.newSMTPServer()
	s.mu.Lock()
	s.ln = ln
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln)
	return nil
}

// RequireAuth makes the relay demand AUTH PLAIN with these credentials.
func (s *Server) RequireAuth(username, password string) {
	s.mu.Lock()
	s.username, s.password = username, password
	s.mu.Unlock()
}

// Authenticated is the number of successful AUTH commands.
func (s *Server) Authenticated() int { s.mu.Lock(); defer s.mu.Unlock(); return s.authed }

// SetReply sets the RCPT TO decision.
func (s *Server) SetReply(r Reply) { s.mu.Lock(); s.reply = r; s.mu.Unlock() }

// DropBeforeEnd cuts the connection during the next n DATA commands,
// before the final ".": the messages are not delivered.
func (s *Server) DropBeforeEnd(n int) { s.mu.Lock(); s.dropBefore = n; s.mu.Unlock() }

// DropAfterEnd accepts the next n messages and cuts the connection before
// the reply: delivered, but the client cannot know.
func (s *Server) DropAfterEnd(n int) { s.mu.Lock(); s.dropAfter = n; s.mu.Unlock() }

// OnDelivered calls f after each delivery with the running count.
func (s *Server) OnDelivered(f func(count int)) { s.mu.Lock(); s.onDelivered = f; s.mu.Unlock() }

// Discard counts deliveries without keeping them (for load).
func (s *Server) Discard() { s.mu.Lock(); s.discard = true; s.mu.Unlock() }

// Messages returns the delivered messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Delivered is the number of messages delivered.
func (s *Server) Delivered() int { s.mu.Lock(); defer s.mu.Unlock(); return s.delivered }

// ByRecipient counts delivered messages per recipient.
func (s *Server) ByRecipient() map[string]int {
	out := map[string]int{}
	for _, m := range s.Messages() {
		for _, to := range m.To {
			out[strings.ToLower(to)]++
		}
	}
	return out
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	from   string
	to     []string
	authed bool
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// AuthMechanisms and Auth offer AUTH PLAIN (go-smtp's AuthSession).
func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		if username != x.s.username || password != x.s.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		x.authed = true
		x.s.authed++
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	need := x.s.username != ""
	x.s.mu.Unlock()
	if need && !x.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	x.s.tries[strings.ToLower(to)]++
	try := x.s.tries[strings.ToLower(to)]
	reply := x.s.reply
	x.s.mu.Unlock()
	if reply != nil {
		if e := reply(to, try); e != nil {
			return e
		}
	}
	x.to = append(x.to, to)
	return nil
}

var errDropped = errors.New("connection dropped by the test")

func (x *session) Data(r io.Reader) error {
	x.s.mu.Lock()
	before := x.s.dropBefore > 0
	if before {
		x.s.dropBefore--
	}
	x.s.mu.Unlock()
	if before {
		buf := make([]byte, 512)
		io.ReadFull(r, buf)
		x.conn.Conn().Close()
		return errDropped
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.delivered++
	count := x.s.delivered
	if !x.s.discard {
		x.s.messages = append(x.s.messages, Message{From: x.from, To: append([]string(nil), x.to...), Data: data})
	}
	after := x.s.dropAfter > 0
	if after {
		x.s.dropAfter--
	}
	hook := x.s.onDelivered
	x.s.mu.Unlock()
	if hook != nil {
		hook(count)
	}
	if after {
		x.conn.Conn().Close()
		return errDropped
	}
	return nil
}
