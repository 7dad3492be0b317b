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
	"time"

	"golang.org/x/net/netutil"
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
// once: a whole request within 30 s, an idle connection closed after a
// minute.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
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
func Serve(ctx context.Context, ln net.Listener, handler http.Handler, l Limits, log *slog.Logger) error {
	if l.MaxConns > 0 {
		ln = netutil.LimitListener(ln, l.MaxConns)
	}
	srv := l.Server(handler)
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
