package web_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sendpool/internal/pool"
	"sendpool/internal/state/memory"
)

// newWarmup puts 127.0.0.3 on day 1 of a warm-up, with 7 deliveries to
// gmail counted.
func newWarmup() *pool.Warmup {
	a := netip.MustParseAddr("127.0.0.3")
	w := pool.NewWarmup(pool.WarmupConfig{State: memory.New(nil), IPs: []pool.WarmIP{{
		Addr: a, Start: time.Now().UTC().Truncate(24 * time.Hour), Name: "default",
		Schedule: pool.Schedule{Days: 21, Growth: 2, Caps: map[string]pool.Cap{"gmail": {Start: 50, Max: 20000}, pool.OtherProvider: {Start: 50, Max: 20000}}},
	}}})
	w.Admit(context.Background(), a, "gmail", 7)
	return w
}

// newPacer has 127.0.0.2 paced for gmail after a rate-limit reply.
func newPacer() *pool.Pacer {
	p := pool.NewPacer(pool.PaceConfig{State: memory.New(nil), Window: time.Minute, Step: time.Minute, Hold: 30 * time.Minute, MinRate: 2, Conns: 10})
	p.Limited(context.Background(), netip.MustParseAddr("127.0.0.2"), "gmail",
		"421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address")
	return p
}

// The IP pool page shows an IP's pace where a provider asked it to slow
// down: the provider, the rate and the connections, the reply on hover.
func TestIPsPageShowsPace(t *testing.T) {
	e := newEnv(t, token)
	c := client(t)
	e.login(t, c)
	_, page, _ := get(t, c, e.srv.URL+"/ips")
	i, j := strings.Index(page, "127.0.0.2"), strings.Index(page, "127.0.0.3")
	if i < 0 || j < i {
		t.Fatalf("IPs missing from the page:\n%s", page)
	}
	for _, want := range []string{`title="421 4.7.28 Gmail has detected`, ">gmail</span>", "2 per 1m0s, 5 conn."} {
		if !strings.Contains(page[i:j], want) {
			t.Errorf("paced IP's row lacks %q:\n%s", want, page[i:j])
		}
	}
	if strings.Contains(page[j:], "per 1m0s") {
		t.Error("an IP not paced shows a pace")
	}
}

// The IP pool page shows each IP's warm-up: its day and its use of each
// provider's cap; a warm IP says so.
func TestIPsPageShowsWarmup(t *testing.T) {
	e := newEnv(t, token)
	c := client(t)
	e.login(t, c)
	code, page, _ := get(t, c, e.srv.URL+"/ips")
	if code != 200 {
		t.Fatalf("GET /ips: %d", code)
	}
	i, j := strings.Index(page, "127.0.0.2"), strings.Index(page, "127.0.0.3")
	if i < 0 || j < i {
		t.Fatalf("IPs missing from the page:\n%s", page)
	}
	if row := page[i:j]; !strings.Contains(row, "warm") || strings.Contains(row, "day ") {
		t.Errorf("warm IP's row: %s", row)
	}
	for _, want := range []string{"day 1 of 21", "gmail 7/50", "other 0/50"} {
		if !strings.Contains(page[j:], want) {
			t.Errorf("warm-up row lacks %q:\n%s", want, page[j:])
		}
	}
}
