package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sendpool/internal/httpout"
	"sendpool/internal/sandbox"
)

const goodPolicy = "version: STSv1\nmode: enforce\nmx: mx.good.test\nmx: *.mx.good.test\nmax_age: 86400\n"

// policyWorld is a loopback policy server with its own CA and a fetcher
// that trusts that CA alone and finds every mta-sts host at the server.
type policyWorld struct {
	ca  *sandbox.CA
	sts *sandbox.STSServer
	f   *Fetcher
}

type oneAddr struct{ a netip.Addr }

func (r oneAddr) LookupIP(context.Context, string) ([]netip.Addr, error) {
	return []netip.Addr{r.a}, nil
}

func newPolicyWorld(t *testing.T) *policyWorld {
	t.Helper()
	ca, err := sandbox.NewCA("test policy CA")
	if err != nil {
		t.Fatal(err)
	}
	sts, err := sandbox.NewSTSServer("127.0.0.1:0", ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sts.Close() })
	host, _, _ := net.SplitHostPort(sts.Addr())
	client := httpout.New(httpout.Config{Resolver: oneAddr{netip.MustParseAddr(host)}, Roots: ca.Pool(),
		Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	return &policyWorld{ca: ca, sts: sts, f: &Fetcher{Client: client, Port: sts.Port(), MaxSize: 64 << 10, Timeout: 5 * time.Second}}
}

func wantFetchError(t *testing.T, err error, result string) {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Result != result {
		t.Fatalf("err %v, want a %s", err, result)
	}
}

func TestFetch(t *testing.T) {
	w := newPolicyWorld(t)
	w.sts.SetPolicy("good.test", goodPolicy)
	p, err := w.f.Fetch(t.Context(), "good.test")
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeEnforce || p.MaxAge != 24*time.Hour || !p.Matches("a.mx.good.test") {
		t.Errorf("policy %+v", p)
	}

	t.Run("no policy served", func(t *testing.T) {
		_, err := w.f.Fetch(t.Context(), "none.test")
		wantFetchError(t, err, ResultFetchError)
	})
	t.Run("redirect not followed", func(t *testing.T) {
		w.sts.SetPolicy("moved.test", goodPolicy) // what the redirect would lead to
		w.sts.SetHandler("redirect.test", http.RedirectHandler("https://mta-sts.moved.test/.well-known/mta-sts.txt", http.StatusFound))
		_, err := w.f.Fetch(t.Context(), "redirect.test")
		wantFetchError(t, err, ResultFetchError)
		if !strings.Contains(err.Error(), "redirect") {
			t.Errorf("err %v does not say it was a redirect", err)
		}
		if n := w.sts.Requests("moved.test"); n != 0 {
			t.Errorf("the redirect was followed (%d requests)", n)
		}
	})
	t.Run("over the size cap", func(t *testing.T) {
		big := goodPolicy + "x-padding: " + strings.Repeat("a", 64<<10) + "\n"
		w.sts.SetPolicy("big.test", big)
		_, err := w.f.Fetch(t.Context(), "big.test")
		wantFetchError(t, err, ResultPolicyInvalid)
		// At the cap exactly it is taken.
		pad := 64<<10 - len(goodPolicy) - len("x-padding: \n")
		w.sts.SetPolicy("cap.test", goodPolicy+"x-padding: "+strings.Repeat("a", pad)+"\n")
		if _, err := w.f.Fetch(t.Context(), "cap.test"); err != nil {
			t.Errorf("policy of exactly 64 KB: %v", err)
		}
	})
	t.Run("not text/plain", func(t *testing.T) {
		w.sts.SetHandler("html.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, goodPolicy)
		}))
		_, err := w.f.Fetch(t.Context(), "html.test")
		wantFetchError(t, err, ResultFetchError)
	})
	t.Run("text/plain with a charset", func(t *testing.T) {
		w.sts.SetHandler("charset.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprint(w, goodPolicy)
		}))
		if _, err := w.f.Fetch(t.Context(), "charset.test"); err != nil {
			t.Error(err)
		}
	})
	t.Run("invalid policy", func(t *testing.T) {
		w.sts.SetPolicy("invalid.test", "version: STSv1\nmode: enforce\nmax_age: 86400\n")
		_, err := w.f.Fetch(t.Context(), "invalid.test")
		wantFetchError(t, err, ResultPolicyInvalid)
	})
	t.Run("certificate for another name", func(t *testing.T) {
		w.sts.SetPolicy("wrongname.test", goodPolicy)
		cert, err := w.ca.Issue("mta-sts.other.test")
		if err != nil {
			t.Fatal(err)
		}
		w.sts.SetCertificate("wrongname.test", &cert)
		_, err = w.f.Fetch(t.Context(), "wrongname.test")
		wantFetchError(t, err, ResultWebPKIInvalid)
	})
	t.Run("certificate from an unknown CA", func(t *testing.T) {
		other, err := sandbox.NewCA("another CA")
		if err != nil {
			t.Fatal(err)
		}
		cert, err := other.Issue("mta-sts.untrusted.test")
		if err != nil {
			t.Fatal(err)
		}
		w.sts.SetPolicy("untrusted.test", goodPolicy)
		w.sts.SetCertificate("untrusted.test", &cert)
		_, err = w.f.Fetch(t.Context(), "untrusted.test")
		wantFetchError(t, err, ResultWebPKIInvalid)
	})
	t.Run("expired certificate", func(t *testing.T) {
		now := time.Now()
		cert, err := w.ca.IssueValid(now.Add(-48*time.Hour), now.Add(-24*time.Hour), "mta-sts.expired.test")
		if err != nil {
			t.Fatal(err)
		}
		w.sts.SetPolicy("expired.test", goodPolicy)
		w.sts.SetCertificate("expired.test", &cert)
		_, err = w.f.Fetch(t.Context(), "expired.test")
		wantFetchError(t, err, ResultWebPKIInvalid)
	})
}
