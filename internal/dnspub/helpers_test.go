package dnspub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sendpool/internal/dkim"
	"sendpool/internal/dns"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/testclock"
)

// world is a publisher over a real store, publishing to one real server.
type world struct {
	t      *testing.T
	zone   Zone
	dig    string // the server dig asks, host:port
	store  *sqlite.Store
	clock  *testclock.Clock
	keys   *dkim.Manager
	pub    *Publisher
	auth   *Authoritative
	checks *dnsrec.Checker
}

const retireAfter = 72 * time.Hour
const revokeFor = 24 * time.Hour

func newWorld(t *testing.T, zone Zone, dig string) *world {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, zone: zone, dig: dig, store: st, clock: testclock.New()}
	// ip mode: the SPF check passes on the domain's own record, with no
	// service record to publish elsewhere.
	records := &dnsrec.Config{SPFMode: dnsrec.SPFIP, Pool: []dnsrec.PoolIP{{Addr: netip.MustParseAddr("127.0.0.2"), EHLO: "mta1.relay.test"}},
		DMARCPolicy: "none", RetireAfter: retireAfter}
	w.pub = New(Config{Zones: []Zone{zone}, Store: st, Records: records, RetireAfter: retireAfter, RevokeFor: revokeFor,
		Now: w.clock.Now, OnPublished: func(ctx context.Context, name string) {
			if _, err := w.keys.Activate(ctx, name); err != nil {
				t.Errorf("Activate(%s): %v", name, err)
			}
		}})
	w.auth = &Authoritative{Publisher: w.pub, Fallback: noDNS{}}
	w.keys = dkim.New(dkim.Config{Store: st, Resolver: w.auth, RetireAfter: retireAfter, Now: w.clock.Now})
	w.checks = &dnsrec.Checker{Resolver: w.auth, Config: records}
	return w
}

// name is a new domain inside the zone, so that tests sharing the server
// never meet.
func (w *world) name(prefix string) string {
	return fmt.Sprintf("%s%d.%s", prefix, rand.IntN(1e9), w.zone.Name)
}

func (w *world) add(name string) *domain.Domain {
	w.t.Helper()
	if _, err := w.keys.Add(w.t.Context(), name, "shop"); err != nil {
		w.t.Fatal(err)
	}
	return w.sync(name)
}

func (w *world) sync(name string) *domain.Domain {
	w.t.Helper()
	if err := w.pub.Sync(w.t.Context(), name); err != nil {
		w.t.Fatalf("Sync(%s): %v", name, err)
	}
	d, err := w.store.GetDomain(w.t.Context(), name)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// digTXT asks the server with the real dig and returns each TXT record's
// strings joined, sorted.
func (w *world) digTXT(name string) []string {
	w.t.Helper()
	host, port, _ := strings.Cut(w.dig, ":")
	out, err := exec.Command("dig", "+short", "+tcp", "-p", port, "@"+host, name, "TXT").CombinedOutput()
	if err != nil {
		w.t.Fatalf("dig %s: %v\n%s", name, err, out)
	}
	var recs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		recs = append(recs, joinDig(line))
	}
	slices.Sort(recs)
	return recs
}

// joinDig joins dig's quoted strings of one record: "a" "b" → ab.
func joinDig(line string) string {
	var b strings.Builder
	in, esc := false, false
	for _, c := range line {
		switch {
		case esc:
			b.WriteRune(c)
			esc = false
		case c == '\\' && in:
			esc = true
		case c == '"':
			in = !in
		case in:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func (w *world) wantTXT(name string, want ...string) {
	w.t.Helper()
	slices.Sort(want)
	if got := w.digTXT(name); !slices.Equal(got, want) {
		w.t.Fatalf("dig %s TXT:\n got %q\nwant %q", name, got, want)
	}
}

// noDNS is the fallback of a world that has nothing outside its zone.
type noDNS struct{}

var errNoDNS = &dns.Error{Name: "-", Msg: "no DNS outside the zone", NotFound: true}

func (noDNS) LookupMX(context.Context, string) ([]dns.MX, error) { return nil, errNoDNS }
func (noDNS) LookupIP(context.Context, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, nil
}
func (noDNS) LookupTXT(context.Context, string) ([]string, error) { return nil, errNoDNS }
