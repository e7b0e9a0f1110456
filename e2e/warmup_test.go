package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/queue"
)

// TestWarmupCapThroughBinary: 127.0.0.2 is on day 1 of a warm-up with a
// cap of 3 a day to the provider gmail.test and weighs 50 against 1 for
// the warm IPs, so it is picked whenever usable. Of 8 messages to
// gmail.test it carries exactly 3, the warm IPs the rest, none waits; the
// API, `sendpool ip ls` and the metrics show it.
func TestWarmupCapThroughBinary(t *testing.T) {
	t.Parallel()
	today := time.Now().UTC().Format(time.DateOnly)
	// growth 1: a run across midnight UTC keeps the same cap.
	e := poolEnv(t, `retry = ["1s"]
[pool.warmup.e2e]
days = 2
growth = 1.0
start = 3
providers = ["gmail.test"]
`, map[string]int{"127.0.0.2": 50})
	cfg := readFile(t, e.config)
	entry := "address = \"127.0.0.2\"\n"
	if !strings.Contains(cfg, entry) {
		t.Fatalf("no entry for 127.0.0.2:\n%s", cfg)
	}
	writeFile(t, e.config, strings.Replace(cfg, entry, entry+fmt.Sprintf("warmup_start = %q\nwarmup = \"e2e\"\n", today), 1))
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	const n = 8
	for i := range n {
		e.send(fmt.Sprintf("warm%d", i), fmt.Sprintf("user%d@gmail.test", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, 30*time.Second, "every message delivered", func() bool {
		list, err := e.api().Messages(ctx, queue.Filter{Status: queue.StatusDelivered})
		return err == nil && len(list) == n
	})
	from := map[string]int{}
	for _, m := range e.world.Sink("gmail.test").Messages() {
		from[m.SourceIP]++
	}
	if from["127.0.0.2"] != 3 {
		t.Errorf("messages by source IP %v; want exactly 3 (the cap) from 127.0.0.2", from)
	}

	var ips []api.IPStatus
	if err := json.Unmarshal([]byte(e.cli("ip", "ls", "-json")), &ips); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		w := ip.Warmup
		switch {
		case ip.Address != "127.0.0.2" && w != nil:
			t.Errorf("warm IP %s shows a warm-up: %+v", ip.Address, w)
		case ip.Address == "127.0.0.2" && (w == nil || w.Day != 1 || w.Days != 2 || w.Schedule != "e2e" || w.Start != today ||
			len(w.Providers) != 2 || w.Providers[0] != (api.WarmupUsage{Provider: "gmail.test", Used: 3, Cap: 3, Day: 1}) ||
			w.Providers[1] != (api.WarmupUsage{Provider: "other", Used: 0, Cap: 3, Day: 1})):
			t.Errorf("127.0.0.2's warm-up in GET /api/v1/ips: %+v", w)
		}
	}
	out := e.cli("ip", "ls")
	if !strings.Contains(out, "WARMUP") || !strings.Contains(out, "day 1/2 gmail.test 3/3 other 0/3") {
		t.Errorf("ip ls shows no warm-up:\n%s", out)
	}
	if l := e.metric(`sendpool_warmup_held_total{ip="127.0.0.2",provider="gmail.test"}`); l == "" {
		t.Error("no deliveries counted as held back by warm-up in /metrics")
	}
}
