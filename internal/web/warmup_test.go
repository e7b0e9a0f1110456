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
