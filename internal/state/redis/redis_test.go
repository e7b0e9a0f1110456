package redis

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"sendpool/internal/state"
	"sendpool/internal/state/statetest"
	"sendpool/internal/testenv"
)

// openTest opens a State under a key prefix of its own, whose keys are
// deleted afterwards.
func openTest(t *testing.T, prefix string) *State {
	t.Helper()
	url := testenv.Redis(t)
	if prefix == "" {
		prefix = "sendpool-test:" + token() + ":"
	}
	s, err := Open(context.Background(), url, Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := s.c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = s.c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		s.Close()
	})
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.State { return openTest(t, "") })
}

// TestSuspensionSeenByEveryNode: two handles (two nodes) on one Redis; a
// suspension or resume through one is in the other's next Suspensions,
// whatever it cached.
func TestSuspensionSeenByEveryNode(t *testing.T) {
	prefix := "sendpool-test:" + token() + ":"
	a, b := openTest(t, prefix), openTest(t, prefix)
	now := time.Now()
	for _, s := range []*State{a, b} {
		if l, err := s.Suspensions(t.Context(), now); err != nil || len(l) != 0 {
			t.Fatalf("Suspensions = %v, %v; want none", l, err)
		}
	}
	sp := state.Suspension{IP: "127.0.0.3", Scope: state.ScopePool, Reason: "spamhaus", Source: "receiver",
		Since: now, Until: now.Add(time.Hour)}
	if err := a.Suspend(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	if l, err := b.Suspensions(t.Context(), now); err != nil || len(l) != 1 || l[0].IP != "127.0.0.3" {
		t.Fatalf("node b sees %v, %v; want node a's suspension", l, err)
	}
	if err := b.Resume(t.Context(), "127.0.0.3", ""); err != nil {
		t.Fatal(err)
	}
	if l, err := a.Suspensions(t.Context(), now); err != nil || len(l) != 0 {
		t.Fatalf("node a sees %v, %v after node b resumed; want none", l, err)
	}
}

// TestUnreachableIsAnErrorNotAHang: Open of a Redis nobody listens on fails
// within its dial timeout.
func TestUnreachableIsAnErrorNotAHang(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Open(ctx, "redis://"+addr+"/0", Options{DialTimeout: 500 * time.Millisecond})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Open of a closed port: %v (ctx %v), want an error before the deadline", err, ctx.Err())
	}
}

func TestClientKinds(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"redis://127.0.0.1:6379/0", "*redis.Client"},
		{"redis://127.0.0.1:26379/0?master_name=main&addr=127.0.0.2:26379", "*redis.Client"},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", "*redis.ClusterClient"},
	} {
		cl, err := NewClient(c.url, time.Second)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if got := fmt.Sprintf("%T", cl); got != c.want {
			t.Errorf("%s: %s, want %s", c.url, got, c.want)
		}
		cl.Close()
	}
	if _, err := NewClient("redis://127.0.0.1:6379/0?bogus=1", time.Second); err == nil {
		t.Error("unknown parameter accepted")
	}
}

// TestReconnects: calls fail while Redis is away and work again once it is
// back, on the same State, with no reopen.
func TestReconnects(t *testing.T) {
	testenv.Redis(t) // the service script installs redis-server
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no",
			"--dir", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis-server did not start: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	srv := start()
	s, err := Open(context.Background(), fmt.Sprintf("redis://127.0.0.1:%d/0", port), Options{DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Process.Kill()
	srv.Wait()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = s.Set(cctx, "k", []byte("v"), time.Minute)
	cancel()
	if err == nil {
		t.Fatal("Set succeeded with Redis down")
	}
	start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Set(ctx, "k", []byte("again"), time.Minute)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Set still failing after Redis came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, ok, err := s.Get(ctx, "k"); err != nil || !ok || string(v) != "again" {
		t.Fatalf("Get after reconnect = %q, %v, %v", v, ok, err)
	}
}
