package dnspub

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"sendpool/internal/dkim"
	"sendpool/internal/dnsrec"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// zoneMap is a Backend over a map, which refuses every change while down.
type zoneMap struct {
	mu   sync.Mutex
	sets map[string][]string
	down bool
}

func (z *zoneMap) Lookup(_ context.Context, name, typ string) ([]string, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.down {
		return nil, errors.New("server down")
	}
	return slices.Clone(z.sets[typ+" "+name]), nil
}

func (z *zoneMap) Replace(_ context.Context, name, typ string, _, values []string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.down {
		return errors.New("server down")
	}
	z.sets[typ+" "+name] = slices.Clone(values)
	return nil
}

// TestFailureShownThenRetried: a zone whose server is down leaves the
// domain unpublished with the error kept for the API and the panel; the
// loop's next round publishes it and clears the error; the records then
// say published, by whom.
func TestFailureShownThenRetried(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := testclock.New()
	zm := &zoneMap{sets: map[string][]string{}, down: true}
	recs := &dnsrec.Config{SPFMode: dnsrec.SPFIP, Pool: []dnsrec.PoolIP{{Addr: netip.MustParseAddr("192.0.2.1")}}, RetireAfter: time.Hour}
	p := New(Config{Zones: []Zone{{Name: "hosting.test", Method: "rfc2136", Backend: zm}}, Store: st, Records: recs,
		RetireAfter: time.Hour, RevokeFor: time.Hour, Now: clock.Now})
	keys := dkim.New(dkim.Config{Store: st, Resolver: noDNS{}, Now: clock.Now})
	if _, err := keys.Add(t.Context(), "shop.hosting.test", "shop"); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(t.Context(), "shop.hosting.test"); err == nil {
		t.Fatal("Sync with the server down: no error")
	}
	if e := p.LastError("shop.hosting.test"); e == "" {
		t.Fatal("no error kept")
	}
	zm.mu.Lock()
	zm.down = false
	zm.mu.Unlock()
	p.SyncAll(t.Context())
	if e := p.LastError("shop.hosting.test"); e != "" {
		t.Fatalf("error after the retry: %s", e)
	}
	d, _ := st.GetDomain(t.Context(), "shop.hosting.test")
	rs := recs.Records(d, clock.Now())
	p.Mark(d, rs)
	for _, r := range rs {
		if !r.Published || r.Publisher != "rfc2136:hosting.test" {
			t.Errorf("%s %s: published %v by %q", r.Purpose, r.Name, r.Published, r.Publisher)
		}
	}
	if got := zm.sets["TXT shop.hosting.test"]; len(got) != 1 || got[0] != "v=spf1 ip4:192.0.2.1 ~all" {
		t.Fatalf("SPF %q", got)
	}
	if p.PublisherFor("shop.elsewhere.test") != "" {
		t.Fatal("a domain outside the zones has a publisher")
	}
}
