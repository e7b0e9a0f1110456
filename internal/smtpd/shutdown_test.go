package smtpd

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestShutdownIsClean: a shutdown with no client left is no error, from
// Shutdown nor from Serve (serve exits 0 on SIGTERM, which systemd counts
// as a clean stop).
func TestShutdownIsClean(t *testing.T) {
	e := newEnv(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(l) }()
	c := dialRaw(t, l.Addr().String())
	c.must("QUIT", 221, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
}
