package config

import (
	"strings"
	"testing"
	"time"
)

// TestBoundsDefaults: the keys of SPEC §7 with their defaults.
func TestBoundsDefaults(t *testing.T) {
	c := Default()
	s, h := c.Submission, c.HTTP
	if s.MaxConnections != 1000 || s.MaxConnectionsPerIP != 50 || s.MaxHeaderSize != 1<<20 ||
		s.LoginTimeout.D() != 5*time.Minute || s.MaxJunkCommands != 100 || s.MaxErrors != 20 {
		t.Errorf("submission bounds: %+v", s.SubmissionBounds)
	}
	if h.ReadHeaderTimeout.D() != 10*time.Second || h.ReadTimeout.D() != 2*time.Minute ||
		h.WriteTimeout.D() != time.Minute || h.IdleTimeout.D() != time.Minute ||
		h.MaxHeaderBytes != 64<<10 || h.MaxConnections != 1000 {
		t.Errorf("http bounds: %+v", h.HTTPBounds)
	}
	if c.Store.MinFreeSpace != 1<<30 || c.Store.SpaceReserve() != 32<<20 {
		t.Errorf("store: min_free_space %d, reserve %d", c.Store.MinFreeSpace, c.Store.SpaceReserve())
	}
}

func TestBoundsParse(t *testing.T) {
	c, err := Parse(`
[submission]
max_connections = 10
max_connections_per_ip = 2
max_header_size = "64KB"
login_timeout = "30s"
[http]
read_timeout = "5s"
max_connections = 5
max_header_bytes = "8KB"
[store]
min_free_space = "0"
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Submission.MaxConnections != 10 || c.Submission.MaxConnectionsPerIP != 2 ||
		c.Submission.MaxHeaderSize != 64<<10 || c.Submission.LoginTimeout.D() != 30*time.Second {
		t.Errorf("submission: %+v", c.Submission.SubmissionBounds)
	}
	if c.HTTP.ReadTimeout.D() != 5*time.Second || c.HTTP.MaxConnections != 5 || c.HTTP.MaxHeaderBytes != 8<<10 {
		t.Errorf("http: %+v", c.HTTP.HTTPBounds)
	}
	if c.Store.MinFreeSpace != 0 || c.Store.SpaceReserve() != 0 {
		t.Errorf("min_free_space \"0\": %d, reserve %d; want the check off", c.Store.MinFreeSpace, c.Store.SpaceReserve())
	}
	for free, want := range map[Size]int64{16 << 20: 8 << 20, 80 << 20: 20 << 20, 10 << 30: 32 << 20} {
		if got := (StoreBounds{MinFreeSpace: free}).SpaceReserve(); got != want {
			t.Errorf("reserve for min_free_space %d: %d, want %d", free, got, want)
		}
	}
}

func TestBoundsInvalid(t *testing.T) {
	_, err := Parse(`
[submission]
max_connections = 10
max_connections_per_ip = 20
max_header_size = 0
login_timeout = "0s"
max_errors = -1
[http]
read_timeout = "-1s"
idle_timeout = "0s"
max_connections = 0
`)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"submission.max_connections_per_ip: must not exceed submission.max_connections (10)",
		"submission.max_header_size: must be positive",
		"submission.login_timeout: must be positive",
		"submission.max_errors: must be positive",
		"http.read_timeout: must be positive",
		"http.idle_timeout: must be positive",
		"http.max_connections: must be positive",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
}
