package srs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"sendpool/internal/testclock"
)

func newSRS(t *testing.T, clock *testclock.Clock, domain string, secrets ...string) *SRS {
	t.Helper()
	s, err := New(Config{Domain: domain, Secrets: secrets, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	clock := testclock.New()
	s := newSRS(t, clock, "srs.relay.test", "first secret of ours")
	for _, orig := range []string{"someone@gmail.test", "Some.One+tag@Gmail.Test", "a=b@c.test", "x-y@sub.example.test"} {
		fwd, err := s.Forward(orig)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(fwd, "SRS0=") || !strings.HasSuffix(fwd, "@srs.relay.test") || !s.IsSRS(fwd) {
			t.Fatalf("Forward(%s) = %s", orig, fwd)
		}
		back, err := s.Reverse(fwd)
		if err != nil || back != orig {
			t.Fatalf("Reverse(%s) = %s, %v; want %s", fwd, back, err, orig)
		}
		// An MTA on the way may change the local part's case.
		if back, err := s.Reverse(strings.ToLower(fwd)); err != nil || !strings.EqualFold(back, orig) {
			t.Fatalf("Reverse of the lower-cased address = %s, %v", back, err)
		}
	}
	// Ours already: not rewritten again.
	if got, _ := s.Forward("SRS0=AAAAAA=AA=x.test=y@srs.relay.test"); got != "SRS0=AAAAAA=AA=x.test=y@srs.relay.test" {
		t.Fatalf("an address of the SRS domain was rewritten: %s", got)
	}
	if _, err := s.Reverse("someone@srs.relay.test"); !errors.Is(err, ErrNotSRS) {
		t.Fatalf("Reverse of a plain address: %v", err)
	}
}

// TestSRS1: a second forwarder turns the first's SRS0 into SRS1 naming it;
// a bounce comes back to the first forwarder's SRS0 address, which the
// first reverses to the original; a third forwarder keeps the first host.
func TestSRS1(t *testing.T) {
	clock := testclock.New()
	first := newSRS(t, clock, "fwd1.test", "secret of forwarder one")
	second := newSRS(t, clock, "fwd2.test", "secret of forwarder two")
	third := newSRS(t, clock, "fwd3.test", "secret of forwarder three")
	srs0, _ := first.Forward("someone@gmail.test")
	srs1, err := second.Forward(srs0)
	if err != nil || !strings.HasPrefix(srs1, "SRS1=") || !strings.Contains(srs1, "=fwd1.test==") {
		t.Fatalf("Forward(%s) = %s, %v", srs0, srs1, err)
	}
	again, _ := third.Forward(srs1)
	if !strings.HasPrefix(again, "SRS1=") || !strings.Contains(again, "=fwd1.test==") || !strings.HasSuffix(again, "@fwd3.test") {
		t.Fatalf("SRS1 forwarded again = %s, want the first host kept", again)
	}
	for _, c := range []struct {
		s    *SRS
		addr string
	}{{second, srs1}, {third, again}} {
		back, err := c.s.Reverse(c.addr)
		if err != nil || back != srs0 {
			t.Fatalf("Reverse(%s) = %s, %v; want %s", c.addr, back, err, srs0)
		}
	}
	if orig, err := first.Reverse(srs0); err != nil || orig != "someone@gmail.test" {
		t.Fatalf("first.Reverse = %s, %v", orig, err)
	}
	// SRS1's signature is the forwarder's own.
	if _, err := third.Reverse(strings.Replace(again, "@fwd3.test", "@fwd3.test", 1)[:5] + "AAAAAA" + again[11:]); !errors.Is(err, ErrHash) {
		t.Fatalf("a forged SRS1 hash: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	clock := testclock.New()
	s := newSRS(t, clock, "srs.relay.test", "first secret of ours")
	fwd, _ := s.Forward("someone@gmail.test")
	clock.Add(MaxAge)
	if _, err := s.Reverse(fwd); err != nil {
		t.Fatalf("at MaxAge: %v", err)
	}
	clock.Add(2 * 24 * time.Hour)
	if _, err := s.Reverse(fwd); !errors.Is(err, ErrExpired) {
		t.Fatalf("after MaxAge: %v, want ErrExpired", err)
	}
	// The day counter wraps after 1024 days: an address from before is
	// still old, not new.
	clock.Add(1024*24*time.Hour - MaxAge - 2*24*time.Hour - 24*time.Hour)
	if _, err := s.Reverse(fwd); !errors.Is(err, ErrExpired) {
		t.Fatalf("a day before the counter wraps: %v", err)
	}
}

func TestTamper(t *testing.T) {
	clock := testclock.New()
	s := newSRS(t, clock, "srs.relay.test", "first secret of ours")
	fwd, _ := s.Forward("someone@gmail.test")
	for _, bad := range []string{
		strings.Replace(fwd, "someone", "someone-else", 1),
		strings.Replace(fwd, "gmail.test", "evil.test", 1),
		fwd[:5] + "BBBBBB" + fwd[11:],
	} {
		if _, err := s.Reverse(bad); !errors.Is(err, ErrHash) {
			t.Errorf("Reverse(%s) = %v, want ErrHash", bad, err)
		}
	}
	for _, bad := range []string{"SRS0=abc@srs.relay.test", "SRS0=AAAAAA=A=x.test=y@srs.relay.test", "SRS1=AAAAAA=host=x@srs.relay.test"} {
		if _, err := s.Reverse(bad); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrHash) {
			t.Errorf("Reverse(%s) = %v, want ErrMalformed", bad, err)
		}
	}
	other := newSRS(t, clock, "srs.relay.test", "somebody else's secret")
	if _, err := other.Reverse(fwd); !errors.Is(err, ErrHash) {
		t.Fatalf("another secret verified: %v", err)
	}
}

// TestRotation: a new secret in front signs; the old one still verifies
// the addresses it signed until it is dropped.
func TestRotation(t *testing.T) {
	clock := testclock.New()
	old := newSRS(t, clock, "srs.relay.test", "the old secret 1234")
	before, _ := old.Forward("someone@gmail.test")
	rotated := newSRS(t, clock, "srs.relay.test", "the new secret 5678", "the old secret 1234")
	after, _ := rotated.Forward("someone@gmail.test")
	if after == before {
		t.Fatal("the new secret does not sign")
	}
	for _, a := range []string{before, after} {
		if _, err := rotated.Reverse(a); err != nil {
			t.Fatalf("Reverse(%s) during rotation: %v", a, err)
		}
	}
	done := newSRS(t, clock, "srs.relay.test", "the new secret 5678")
	if _, err := done.Reverse(before); !errors.Is(err, ErrHash) {
		t.Fatalf("the dropped secret still verifies: %v", err)
	}
}

// FuzzReverse: no input panics, and whatever reverses was signed by us.
func FuzzReverse(f *testing.F) {
	clock := testclock.New()
	s, _ := New(Config{Domain: "srs.relay.test", Secrets: []string{"fuzzing secret 123"}, Now: clock.Now})
	for _, seed := range []string{"someone@gmail.test", "SRS0=@srs.relay.test", "SRS1===@srs.relay.test", "srs0+x+y+z+w@srs.relay.test"} {
		f.Add(seed)
	}
	good, _ := s.Forward("someone@gmail.test")
	f.Add(good)
	f.Fuzz(func(t *testing.T, addr string) {
		back, err := s.Reverse(addr)
		if err != nil {
			return
		}
		if fwd, err := s.Forward(back); err != nil || !s.IsSRS(fwd) && !s.IsSRS(addr) {
			t.Fatalf("Reverse(%q) = %q, which does not forward again: %v", addr, back, err)
		}
		s.IsSRS(addr)
	})
}
