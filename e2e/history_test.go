package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"sendpool/internal/events"
	"sendpool/internal/history"
	"sendpool/internal/sandbox"
	"sendpool/internal/scan/scantest"
)

// Recent history every node shares: the replies to each sending IP
// (GET /api/v1/ips/{address}/replies, `ip show`) and the intake events.

// replies returns GET /api/v1/ips/{addr}/replies of e.
func (e *env) replies(addr string) []history.Reply {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := e.api().IPReplies(ctx, addr, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// blockReply returns the first blocked-ip reply among list.
func blockReply(list []history.Reply) (history.Reply, bool) {
	for _, r := range list {
		if r.Verdict == "blocked-ip" {
			return r, true
		}
	}
	return history.Reply{}, false
}

// sendUntilBlocked sends through e until gmail.test's sink has refused a
// connection from 127.0.0.3.
func sendUntilBlocked(t *testing.T, e *env, gmail *sandbox.Sink) {
	t.Helper()
	for i := 0; gmail.ConnsFrom("127.0.0.3") == 0; i++ {
		if i == 20 {
			t.Fatal("127.0.0.3 was never picked for gmail.test")
		}
		id := fmt.Sprintf("m%d", i)
		e.send(id, id+"@gmail.test")
		e.waitArrived("gmail.test", id)
	}
}

// TestIPRepliesShowTheBlock: a sink refuses 127.0.0.3 as blacklisted; the
// refusal is among the IP's recent replies in the API, with its verdict,
// category, MX and recipient domain, and `sendpool ip show` prints it;
// the IP that delivered instead shows the delivery; no entry was dropped.
func TestIPRepliesShowTheBlock(t *testing.T) {
	e := poolEnv(t, `retry = ["1s"]`, map[string]int{"127.0.0.3": 20})
	gmail := e.world.Sink("gmail.test")
	gmail.SetRules(sandbox.Rule{SourceIP: "127.0.0.3", Stage: sandbox.StageRcpt, Reply: spamhausReply})
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	sendUntilBlocked(t, e, gmail)

	var r history.Reply
	waitFor(t, 10*time.Second, "the block among 127.0.0.3's replies", func() bool {
		var ok bool
		r, ok = blockReply(e.replies("127.0.0.3"))
		return ok
	})
	if r.Response != spamhausReply || r.Category != "blocked-ip" || r.Domain != "gmail.test" || r.SourceIP != "127.0.0.3" ||
		!strings.HasPrefix(r.MXAddr, "127.0.0.11:") || r.MX == "" || r.Rcpts != 1 || time.Since(r.Time) > time.Minute {
		t.Errorf("block reply: %+v", r)
	}
	delivered := 0
	for _, ip := range []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"} {
		for _, x := range e.replies(ip) {
			if x.Verdict == "delivered" && x.Domain == "gmail.test" && strings.HasPrefix(x.Response, "250") {
				delivered++
			}
		}
	}
	if delivered == 0 {
		t.Error("no other IP shows a delivery to gmail.test among its replies")
	}

	out := e.cli("ip", "show", "127.0.0.3")
	for _, want := range []string{"127.0.0.3", "suspended", "blocked-ip", "gmail.test", "blocked using zen.spamhaus.org"} {
		if !strings.Contains(out, want) {
			t.Errorf("ip show lacks %q:\n%s", want, out)
		}
	}
	var shown struct {
		IP      struct{ Address, Status string }
		Replies []history.Reply
	}
	if err := json.Unmarshal([]byte(e.cli("ip", "show", "127.0.0.3", "-json")), &shown); err != nil {
		t.Fatal(err)
	}
	if x, ok := blockReply(shown.Replies); shown.IP.Address != "127.0.0.3" || shown.IP.Status != "suspended" || !ok || x.Response != spamhausReply {
		t.Errorf("ip show -json: %+v", shown)
	}
	// Nothing was dropped, and the drop counter is exported.
	if m := e.metric("sendpool_history_dropped_total"); m != "sendpool_history_dropped_total 0" {
		t.Errorf("metric: %q", m)
	}
}

// TestHistorySharedByNodes: two nodes on one Redis. A message node a
// refuses (GTUBE) is in node b's GET /api/v1/events, by kind and by
// account; the blacklist reply node a got is among 127.0.0.3's replies on
// node b.
func TestHistorySharedByNodes(t *testing.T) {
	a, b := newCluster(t, poolDomains, 6, `retry = ["1s"]`)
	for _, e := range []*env{a, b} {
		cfg := readFile(t, e.config)
		entry := "address = \"127.0.0.3\"\nehlo = \"mta2.sendpool.test\"\n"
		if !strings.Contains(cfg, entry) {
			t.Fatalf("no pool entry for 127.0.0.3:\n%s", cfg)
		}
		writeFile(t, e.config, strings.Replace(cfg, entry, entry+"weight = 20\n", 1))
	}
	gmail := a.world.Sink("gmail.test")
	gmail.SetRules(sandbox.Rule{SourceIP: "127.0.0.3", Stage: sandbox.StageRcpt, Reply: spamhausReply})
	a.serve()
	b.serve()
	a.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	from, to := "sender@shop1.test", "u@gmail.test"
	wantSMTP(t, "GTUBE through node a", submit(a.smtp, "shop1", "pw-shop1-secret", from, []string{to},
		scantest.Message(from, to, "offer", scantest.GTUBE())), 550, "5.7.1")
	for _, f := range []events.Filter{{Kind: events.KindRefused}, {Account: "shop1", Kind: events.KindRefused}} {
		var ev []events.Event
		waitFor(t, 10*time.Second, fmt.Sprintf("node a's refusal in node b's events (%+v)", f), func() bool {
			ev = b.intakeEvents(f)
			return len(ev) > 0
		})
		if len(ev) != 1 || !hasRule(ev[0], "GTUBE") || ev[0].Reply != "550 5.7.1 Message refused as spam" {
			t.Errorf("node b lists %+v", ev)
		}
	}

	sendUntilBlocked(t, a, gmail)
	var r history.Reply
	waitFor(t, 10*time.Second, "node a's block among 127.0.0.3's replies on node b", func() bool {
		var ok bool
		r, ok = blockReply(b.replies("127.0.0.3"))
		return ok
	})
	if r.Response != spamhausReply || r.Domain != "gmail.test" {
		t.Errorf("node b shows %+v", r)
	}
}
