package httpd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve starts Serve with limits on a free port and returns its address.
func serve(t *testing.T, l Limits, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, l, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func testLimits() Limits {
	l := DefaultLimits()
	l.ReadHeaderTimeout, l.ReadTimeout, l.WriteTimeout, l.IdleTimeout = 300*time.Millisecond, 600*time.Millisecond, time.Second, 400*time.Millisecond
	l.ShutdownGrace = time.Second
	return l
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	fmt.Fprintln(w, "ok")
})

// closedWithin reports whether the server closes conn within d.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if ne, isNet := err.(net.Error); isNet && ne.Timeout() {
		return false
	}
	return true
}

func TestDefaultLimits_AreSet(t *testing.T) {
	l := DefaultLimits()
	if l.ReadHeaderTimeout <= 0 || l.ReadTimeout <= 0 || l.ReadTimeout > 30*time.Second || l.WriteTimeout <= 0 ||
		l.IdleTimeout <= 0 || l.IdleTimeout > time.Minute || l.MaxHeaderBytes <= 0 || l.MaxConns <= 0 {
		t.Errorf("limits %+v: every one must be set; ReadTimeout at most 30s, IdleTimeout at most a minute", l)
	}
	srv := l.Server(ok)
	if srv.ReadHeaderTimeout != l.ReadHeaderTimeout || srv.ReadTimeout != l.ReadTimeout || srv.WriteTimeout != l.WriteTimeout || srv.IdleTimeout != l.IdleTimeout || srv.MaxHeaderBytes != l.MaxHeaderBytes {
		t.Errorf("server %+v does not carry the limits", srv)
	}
}

func TestServe_IdleKeepAliveIsClosed(t *testing.T) {
	addr := serve(t, testLimits(), ok)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	resp.Body.Close()
	// The connection is kept alive, then closed once idle.
	if !closedWithin(t, conn, 10*time.Second) {
		t.Error("an idle keep-alive connection stayed open")
	}
}

func TestServe_DrippedBodyIsCut(t *testing.T) {
	bodyDone := make(chan error, 1)
	addr := serve(t, testLimits(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		bodyDone <- err
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n")
	start := time.Now()
	for i := 0; i < 100; i++ {
		if _, err := conn.Write([]byte("a")); err != nil {
			break // cut
		}
		select {
		case err := <-bodyDone:
			if err == nil {
				t.Fatal("the dripped body was read to the end")
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("cut only after %v", time.Since(start))
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Error("a body dripped byte by byte for 10 s was not cut")
}

func TestServe_SlowHeadersAreCut(t *testing.T) {
	addr := serve(t, testLimits(), ok)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	for i := 0; i < 20; i++ {
		if _, err := fmt.Fprintf(conn, "X-Slow-%d: y\r\n", i); err != nil {
			return // cut
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !closedWithin(t, conn, 5*time.Second) {
		t.Error("headers sent slowly kept the connection")
	}
}

func TestServe_HugeHeaderIsRefused(t *testing.T) {
	addr := serve(t, testLimits(), ok)
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return // closed: refused too
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// TestServe_ConnectionsAreCapped: with every place busy a newcomer waits
// until one is freed; with idle kept-alive connections in the places, the
// longest idle is closed for the newcomer at once.
func TestServe_ConnectionsAreCapped(t *testing.T) {
	release := make(chan struct{})
	l := testLimits()
	l.MaxConns, l.IdleTimeout, l.ReadTimeout, l.WriteTimeout = 2, 10*time.Second, 10*time.Second, 10*time.Second
	addr := serve(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		fmt.Fprintln(w, "ok")
	}))
	// Two busy connections.
	var busy []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		busy = append(busy, c)
	}
	time.Sleep(100 * time.Millisecond) // both taken in
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	fmt.Fprint(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := http.ReadResponse(bufio.NewReader(third), nil); err == nil {
		t.Fatal("a third connection was served while two were busy")
	}
	close(release) // the two finish and go idle
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the busy ones finished, the third is served: %v %v", resp, err)
	}
	// Now the places hold idle connections: a fourth is served at once.
	fourth, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fourth.Close()
	fmt.Fprint(fourth, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	fourth.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(fourth), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("idle connections kept a newcomer out: %v %v", resp, err)
	}
}
