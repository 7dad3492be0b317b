// Package httpd is the bot's own HTTP listener (one-click unsubscribe,
// /healthz, /metrics): every timeout set and the open connections capped,
// so no client — idle, slow, or dripping a body byte by byte — can hold a
// connection or the process.
package httpd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what a client may take of the listener.
type Limits struct {
	ReadHeaderTimeout time.Duration // the request line and headers
	ReadTimeout       time.Duration // the whole request, body included
	WriteTimeout      time.Duration // the response
	IdleTimeout       time.Duration // a kept-alive connection between requests
	MaxHeaderBytes    int
	MaxConns          int // open connections at once; more wait in the kernel's backlog
	// ShutdownGrace is how long requests in hand may take to finish
	// once the context is done.
	ShutdownGrace time.Duration
}

// DefaultLimits suit endpoints whose requests are small and answered at
// once: a whole request within 30 s, an idle connection closed after
// 20 s (or sooner, when its place is needed).
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       20 * time.Second,
		MaxHeaderBytes:    16 << 10,
		MaxConns:          256,
		ShutdownGrace:     5 * time.Second,
	}
}

// Server returns the http.Server for handler with the limits set.
func (l Limits) Server(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// Serve serves handler on ln until ctx is done, then shuts down: requests
// in hand get ShutdownGrace to finish. It closes ln.
//
// At most MaxConns connections are open at once. When all are taken and
// another arrives, the connection idle the longest (a kept-alive one
// between requests) is closed to make room, so idle keep-alives can never
// hold the endpoint; only when every one is busy does the newcomer wait.
// A busy connection is bounded by the timeouts.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler, l Limits, log *slog.Logger) error {
	srv := l.Server(handler)
	if l.MaxConns > 0 {
		cl := newCapped(ln, l.MaxConns)
		ln = cl
		srv.ConnState = cl.state
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), l.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
		err = nil
	}
	if log != nil {
		log.Info("stopped listening")
	}
	return err
}

// capped is a listener with at most max open connections that evicts the
// longest-idle connection when a new one needs its place.
type capped struct {
	net.Listener
	max   int
	mu    sync.Mutex
	freed *sync.Cond
	open  map[net.Conn]bool      // every open connection
	idle  map[net.Conn]time.Time // the idle ones, since when
}

func newCapped(ln net.Listener, max int) *capped {
	c := &capped{Listener: ln, max: max, open: map[net.Conn]bool{}, idle: map[net.Conn]time.Time{}}
	c.freed = sync.NewCond(&c.mu)
	return c
}

func (c *capped) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.open) >= c.max {
		if oldest := c.oldestIdle(); oldest != nil {
			delete(c.idle, oldest)
			delete(c.open, oldest)
			oldest.Close() // the server sees StateClosed and lets it go
			continue
		}
		c.freed.Wait() // every connection is busy: wait for one
	}
	c.open[conn] = true
	return conn, nil
}

func (c *capped) oldestIdle() net.Conn {
	var oldest net.Conn
	var since time.Time
	for conn, t := range c.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = conn, t
		}
	}
	return oldest
}

// state follows the server's connections (http.Server.ConnState).
func (c *capped) state(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateIdle:
		if c.open[conn] {
			c.idle[conn] = time.Now()
			c.freed.Signal() // a newcomer waiting may take its place
		}
	case http.StateActive:
		delete(c.idle, conn)
	case http.StateClosed, http.StateHijacked:
		delete(c.idle, conn)
		if c.open[conn] {
			delete(c.open, conn)
			c.freed.Signal()
		}
	}
}
