package httpd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// The attack (issue 11's review): the connection cap counted idle keep-alive connections, and an
// idle one is kept for IdleTimeout (60 s). One client that opens MaxConns
// (256) connections, sends one tiny request on each and then idles, holds
// every slot: for the next minute nobody else is served (mail providers'
// one-click POSTs, /healthz — a supervisor may restart the daemon mid-send).
// Reproduced on "syndicate serve": 256 such sockets from one Python
// process, and curl got nothing in 20 s. Refreshing them once a minute keeps
// the endpoint down indefinitely.
func TestAttack_IdleKeepAlivesHoldEverySlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lim := DefaultLimits()
	go Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }), lim, nil)

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < lim.MaxConns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Errorf("with %d idle keep-alive connections from one client, a new client is not served: %v", lim.MaxConns, err)
		return
	}
	resp.Body.Close()
}
