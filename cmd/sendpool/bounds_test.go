package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"sendpool/internal/config"
)

// testHTTP serves a handler that reads the whole body (as POST /login
// and the API do) with small bounds, and returns its address.
func testHTTP(t *testing.T, mod func(*config.HTTPBounds)) string {
	t.Helper()
	b := config.Default().HTTP.HTTPBounds
	b.ReadHeaderTimeout = config.Duration(300 * time.Millisecond)
	b.ReadTimeout = config.Duration(500 * time.Millisecond)
	b.IdleTimeout = config.Duration(300 * time.Millisecond)
	if mod != nil {
		mod(&b)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok\n")
	})
	srv, addr, err := listenHTTP("127.0.0.1:0", b, h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return addr
}

// waitClosed reads until the server closes the connection; it fails if
// that takes 10 s (far past the timeouts under test).
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the connection open")
	}
}

// TestHTTPIdleKeepAliveClosed: an idle keep-alive connection is closed
// within http.idle_timeout (issue 13: still open after 7 minutes).
func TestHTTPIdleKeepAliveClosed(t *testing.T) {
	addr := testHTTP(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v, %v", resp, err)
	}
	resp.Body.Close()
	waitClosed(t, c)
}

// TestHTTPStalledBodyClosed: a request whose body stalls is cut off
// within http.read_timeout (issue 13: a POST /login body stalled for 7
// minutes), and so is one that never finishes its header.
func TestHTTPStalledBodyClosed(t *testing.T) {
	addr := testHTTP(t, nil)
	for _, stalled := range []string{
		"POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\naccount=",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, stalled)
		waitClosed(t, c)
	}
}

// TestHTTPMaxConnections: past http.max_connections a new connection
// waits until one closes; an oversized header gets 431.
func TestHTTPMaxConnections(t *testing.T) {
	addr := testHTTP(t, func(b *config.HTTPBounds) {
		b.MaxConnections = 2
		b.MaxHeaderBytes = 4 << 10
		b.ReadHeaderTimeout = config.Duration(time.Minute)
		b.ReadTimeout = config.Duration(time.Minute)
		b.IdleTimeout = config.Duration(time.Minute)
	})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n") // served, then kept alive
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr) // the kernel takes it; the server does not
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	r := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("a third connection was served past http.max_connections = 2")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after one closed: %v, %v", resp, err)
	}
	resp.Body.Close()

	io.WriteString(third, "GET /x HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("b", 16<<10)+"\r\n\r\n")
	resp, err = http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 16 KB header over max_header_bytes = 4 KB (net/http allows 4 KB more): %v, %v; want 431", resp, err)
	}
}
