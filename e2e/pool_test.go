package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// The pool's behaviour through the built binary: retries from another IP
// (greylisting excepted), blocked IPs leaving the pool for everyone or for
// one provider, and the pool's own IPs checked on a DNSBL.

var poolDomains = map[string]string{
	"gmail.test": "127.0.0.11", "outlook.test": "127.0.0.12", "yahoo.test": "127.0.0.13",
}

const (
	spamhausReply = "554 5.7.1 Service unavailable; Client host [127.0.0.3] blocked using zen.spamhaus.org"
	outlookReply  = "550 5.7.1 Unfortunately, messages from [127.0.0.3] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140)"
)

// poolEnv is newEnv over poolDomains with an account shop1 and, for each
// address in weights, that weight in its [[pool.ip]], so that the IP under
// test is picked first almost every time.
func poolEnv(t *testing.T, extra string, weights map[string]int) *env {
	t.Helper()
	e := newEnv(t, poolDomains, extra)
	cfg := readFile(t, e.config)
	for _, ip := range e.world.PoolIPs {
		if w, ok := weights[ip.Address]; ok {
			entry := fmt.Sprintf("address = %q\nehlo = %q\n", ip.Address, ip.EHLO)
			if !strings.Contains(cfg, entry) {
				t.Fatalf("config has no entry for %s:\n%s", ip.Address, cfg)
			}
			cfg = strings.Replace(cfg, entry, entry+fmt.Sprintf("weight = %d\n", w), 1)
		}
	}
	writeFile(t, e.config, cfg)
	return e
}

// send submits one message with id to rcpt.
func (e *env) send(id, rcpt string) {
	e.t.Helper()
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", "sender@shop1.test", []string{rcpt}, message("sender@shop1.test", rcpt, id)); err != nil {
		e.t.Fatalf("submit %s: %v", id, err)
	}
}

// arrived reports whether message id reached the sink of domain, and from
// which source IP.
func (e *env) arrived(domain, id string) (bool, string) {
	for _, m := range e.world.Sink(domain).Messages() {
		if strings.Contains(string(m.Data), "Message-ID: <"+id+"@e2e.test>") {
			return true, m.SourceIP
		}
	}
	return false, ""
}

// waitArrived waits for message id at domain's sink and returns its source.
func (e *env) waitArrived(domain, id string) string {
	e.t.Helper()
	var src string
	waitFor(e.t, 20*time.Second, id+" at "+domain, func() bool {
		ok, s := e.arrived(domain, id)
		src = s
		return ok
	})
	return src
}

// connsFrom counts the connections every sink got from ip.
func (e *env) connsFrom(ip string) map[string]int {
	out := map[string]int{}
	for d, s := range e.world.Sinks() {
		if n := s.ConnsFrom(ip); n > 0 {
			out[d] = n
		}
	}
	return out
}

func (e *env) ipStatus(addr string) api.IPStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := e.api().IPs(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ip := range ips {
		if ip.Address == addr {
			return ip
		}
	}
	e.t.Fatalf("%s not in GET /api/v1/ips: %+v", addr, ips)
	return api.IPStatus{}
}

// waitSuspended waits until the API shows addr suspended and returns it.
func (e *env) waitSuspended(addr string) api.IPStatus {
	e.t.Helper()
	var ip api.IPStatus
	waitFor(e.t, 10*time.Second, addr+" suspended in the API", func() bool {
		ip = e.ipStatus(addr)
		return ip.Status == api.IPSuspended
	})
	return ip
}

// cli runs an admin command of the binary against this env's API.
func (e *env) cli(args ...string) string {
	e.t.Helper()
	args = append(args, "-api", "http://"+e.http, "-token", "e2e-token")
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("sendpool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// metric returns the line of /metrics that starts with series.
func (e *env) metric(series string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := e.api().Metrics(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, series+" ") {
			return l
		}
	}
	return ""
}

// TestRetryFromAnotherIPUnlessGreylisted: a sink temp-fails each
// recipient's first RCPT. After a generic 451 the second attempt comes from
// a different IP; after a greylisting 451 from the same one.
func TestRetryFromAnotherIPUnlessGreylisted(t *testing.T) {
	for _, c := range []struct {
		name, reply string
		sameIP      bool
	}{
		{"generic", "451 4.3.0 Temporary local problem, please try again later", false},
		{"greylisting", "451 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/gmail.test.html", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := poolEnv(t, `retry = ["1s"]`, nil)
			e.world.Sink("gmail.test").SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Attempt: 1, Reply: c.reply})
			e.serve()
			e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
			const n = 6
			for i := range n {
				e.send(fmt.Sprintf("%s%d", c.name, i), fmt.Sprintf("user%d@gmail.test", i))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var list []queue.MessageSummary
			waitFor(t, 30*time.Second, "every message delivered", func() bool {
				var err error
				list, err = e.api().Messages(ctx, queue.Filter{Status: queue.StatusDelivered})
				return err == nil && len(list) == n
			})
			for _, m := range list {
				d, err := e.api().Message(ctx, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				at := d.Recipients[0].Attempts
				if len(at) != 2 || at[0].Response != c.reply || !strings.HasPrefix(at[1].Response, "250") {
					t.Fatalf("%s: attempts %+v, want the 451 then delivery", m.ID, at)
				}
				if same := at[0].SourceIP == at[1].SourceIP; same != c.sameIP {
					t.Errorf("%s: first attempt from %s, second from %s; want same IP: %v", m.ID, at[0].SourceIP, at[1].SourceIP, c.sameIP)
				}
			}
		})
	}
}

// TestBlockedIPLeavesThePool: the gmail.test sink refuses 127.0.0.3 as
// listed on Spamhaus, at RCPT or at the greeting. Every message arrives from
// other IPs; after the block no connection comes from 127.0.0.3 to any sink;
// the API, the CLI and the metric show it suspended with the reply; after
// `ip resume` it sends again.
func TestBlockedIPLeavesThePool(t *testing.T) {
	for _, stage := range []string{sandbox.StageRcpt, sandbox.StageGreeting} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			e := poolEnv(t, `retry = ["1s"]`, map[string]int{"127.0.0.3": 20})
			gmail := e.world.Sink("gmail.test")
			gmail.SetRules(sandbox.Rule{SourceIP: "127.0.0.3", Stage: stage, Reply: spamhausReply})
			e.serve()
			e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

			// One message at a time until 127.0.0.3 meets the block; each
			// still arrives, from another IP.
			sent := map[string]string{} // id → domain
			for i := 0; gmail.ConnsFrom("127.0.0.3") == 0; i++ {
				if i == 20 {
					t.Fatal("127.0.0.3 was never picked for gmail.test")
				}
				id := fmt.Sprintf("before%d", i)
				e.send(id, id+"@gmail.test")
				sent[id] = "gmail.test"
				if src := e.waitArrived("gmail.test", id); src == "127.0.0.3" {
					t.Fatalf("%s arrived from the blocked IP", id)
				}
			}
			// The sink saw the connection; what sendpool recorded is asked
			// of sendpool, until it says so.
			ip := e.waitSuspended("127.0.0.3")
			if ip.Status != api.IPSuspended || ip.Scope != "pool" || ip.Reason != spamhausReply ||
				ip.SuspendedUntil == nil || ip.SuspendedUntil.Before(time.Now().Add(50*time.Minute)) {
				t.Fatalf("API shows %+v, want suspended for the pool for pool.suspend_for (1h) with the reply", ip)
			}
			if ls := e.cli("ip", "ls"); !strings.Contains(ls, "127.0.0.3") || !strings.Contains(ls, "suspended") ||
				!strings.Contains(ls, "blocked using zen.spamhaus.org") || !strings.Contains(ls, ip.SuspendedUntil.Local().Format(time.DateTime)) {
				t.Errorf("ip ls does not show the suspension, scope, until and reason:\n%s", ls)
			}
			if m := e.metric(`sendpool_ip_suspended{ip="127.0.0.3",scope="pool"}`); !strings.HasSuffix(m, " 1") {
				t.Errorf("metric: %q, want 1", m)
			}

			// Plenty more mail to every receiver: none of it from 127.0.0.3.
			var wg sync.WaitGroup
			for i := range 15 {
				d := []string{"gmail.test", "outlook.test", "yahoo.test"}[i%3]
				id := fmt.Sprintf("after%d", i)
				sent[id] = d
				wg.Add(1)
				go func() { defer wg.Done(); e.send(id, id+"@"+d) }()
			}
			wg.Wait()
			for id, d := range sent {
				if src := e.waitArrived(d, id); src == "127.0.0.3" {
					t.Errorf("%s arrived at %s from the suspended IP", id, d)
				}
			}
			if got := e.connsFrom("127.0.0.3"); len(got) != 1 || got["gmail.test"] != 1 {
				t.Errorf("connections from 127.0.0.3: %v, want only the one that was blocked", got)
			}

			out := e.cli("ip", "resume", "127.0.0.3")
			if !strings.Contains(out, "active") {
				t.Errorf("ip resume printed:\n%s", out)
			}
			if ip := e.ipStatus("127.0.0.3"); ip.Status != api.IPActive || ip.SuspendedUntil != nil {
				t.Errorf("after resume the API shows %+v", ip)
			}
			if m := e.metric(`sendpool_ip_suspended{ip="127.0.0.3",scope="pool"}`); !strings.HasSuffix(m, " 0") {
				t.Errorf("metric after resume: %q, want 0", m)
			}
			// Back in use (gmail.test still refuses it; the others do not).
			for i := 0; ; i++ {
				if i == 20 {
					t.Fatalf("127.0.0.3 not used after resume: %v", e.connsFrom("127.0.0.3"))
				}
				id := fmt.Sprintf("resumed%d", i)
				e.send(id, id+"@yahoo.test")
				if e.waitArrived("yahoo.test", id) == "127.0.0.3" {
					break
				}
			}
		})
	}
}

// TestProviderBlockIsForThatProviderOnly: an Outlook S3140 refusal from the
// outlook.test sink suspends 127.0.0.3 for outlook.test's provider only:
// outlook.test hears from it no more, gmail.test keeps receiving from it.
func TestProviderBlockIsForThatProviderOnly(t *testing.T) {
	t.Parallel()
	e := poolEnv(t, `retry = ["1s"]`, map[string]int{"127.0.0.3": 20})
	outlook := e.world.Sink("outlook.test")
	outlook.SetRules(sandbox.Rule{SourceIP: "127.0.0.3", Stage: sandbox.StageRcpt, Reply: outlookReply})
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	for i := 0; outlook.ConnsFrom("127.0.0.3") == 0; i++ {
		if i == 20 {
			t.Fatal("127.0.0.3 was never picked for outlook.test")
		}
		id := fmt.Sprintf("ol%d", i)
		e.send(id, id+"@outlook.test")
		e.waitArrived("outlook.test", id)
	}
	ip := e.waitSuspended("127.0.0.3")
	if ip.Status != api.IPSuspended || ip.Scope != "outlook.test" || ip.Reason != outlookReply {
		t.Fatalf("API shows %+v, want suspended for outlook.test with the reply", ip)
	}
	if m := e.metric(`sendpool_ip_suspended{ip="127.0.0.3",scope="outlook.test"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("metric: %q, want 1", m)
	}

	// gmail.test: 127.0.0.3 (weight 20) still sends there.
	fromBlocked := 0
	for i := range 8 {
		id := fmt.Sprintf("gm%d", i)
		e.send(id, id+"@gmail.test")
		if e.waitArrived("gmail.test", id) == "127.0.0.3" {
			fromBlocked++
		}
		id = fmt.Sprintf("ol-after%d", i)
		e.send(id, id+"@outlook.test")
		if src := e.waitArrived("outlook.test", id); src == "127.0.0.3" {
			t.Errorf("%s arrived at outlook.test from 127.0.0.3", id)
		}
	}
	if fromBlocked == 0 {
		t.Error("gmail.test got nothing from 127.0.0.3: the block spread beyond outlook.test")
	}
	if n := outlook.ConnsFrom("127.0.0.3"); n != 1 {
		t.Errorf("outlook.test got %d connections from 127.0.0.3, want only the blocked one", n)
	}

	// By hand: ip suspend with a duration and a reason, then ip resume.
	out := e.cli("ip", "suspend", "127.0.0.2", "-for", "30m", "-reason", "rDNS maintenance")
	if !strings.Contains(out, "suspended") || !strings.Contains(out, "pool") || !strings.Contains(out, "rDNS maintenance") {
		t.Errorf("ip suspend printed:\n%s", out)
	}
	ip = e.ipStatus("127.0.0.2")
	if ip.Status != api.IPSuspended || ip.SuspendedUntil == nil ||
		ip.SuspendedUntil.After(time.Now().Add(30*time.Minute)) || ip.SuspendedUntil.Before(time.Now().Add(25*time.Minute)) {
		t.Errorf("after ip suspend -for 30m: %+v", ip)
	}
	if m := e.metric(`sendpool_ip_suspended{ip="127.0.0.2",scope="pool"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("metric: %q, want 1", m)
	}
	e.cli("ip", "resume", "127.0.0.2")
	if ip := e.ipStatus("127.0.0.2"); ip.Status != api.IPActive {
		t.Errorf("after ip resume: %+v", ip)
	}
}

// TestDNSBLListedIPLeavesThePool: the sandbox DNS serves a zone
// zen.spamhaus.test that lists 127.0.0.4. It is taken out of the pool
// without any receiver saying so; once the listing is removed and the
// cool-down has passed, it sends again.
func TestDNSBLListedIPLeavesThePool(t *testing.T) {
	t.Parallel()
	e := poolEnv(t, `retry = ["1s"]
[pool]
dnsbl = ["zen.spamhaus.test"]
dnsbl_interval = "200ms"
dnsbl_cooldown = "1s"
`, map[string]int{"127.0.0.4": 20})
	dns := e.world.DNS
	dns.SetTTL(0) // every round sees the zone as it is now
	dns.SetNegativeTTL(0)
	const listing = "4.0.0.127.zen.spamhaus.test"
	const txt = "Listed by ZEN, see https://check.spamhaus.test/query/ip/127.0.0.4"
	dns.SetA(listing, "127.0.0.2")
	dns.SetTXT(listing, txt)
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	waitFor(t, 20*time.Second, "127.0.0.4 suspended by the DNSBL check", func() bool {
		return e.ipStatus("127.0.0.4").Status == api.IPSuspended
	})
	ip := e.ipStatus("127.0.0.4")
	if ip.Scope != "pool" || !strings.Contains(ip.Reason, "zen.spamhaus.test") || !strings.Contains(ip.Reason, txt) {
		t.Errorf("API shows %+v, want a pool-wide suspension naming the zone and its TXT", ip)
	}
	for _, other := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.5"} {
		if st := e.ipStatus(other); st.Status != api.IPActive {
			t.Errorf("%s, not listed, is %s", other, st.Status)
		}
	}
	var wg sync.WaitGroup
	sent := map[string]string{}
	for i := range 12 {
		d := []string{"gmail.test", "outlook.test", "yahoo.test"}[i%3]
		id := fmt.Sprintf("listed%d", i)
		sent[id] = d
		wg.Add(1)
		go func() { defer wg.Done(); e.send(id, id+"@"+d) }()
	}
	wg.Wait()
	for id, d := range sent {
		e.waitArrived(d, id)
	}
	if got := e.connsFrom("127.0.0.4"); len(got) != 0 {
		t.Errorf("connections from the listed 127.0.0.4: %v", got)
	}

	removed := time.Now()
	dns.Remove(listing)
	waitFor(t, 20*time.Second, "127.0.0.4 back after the cool-down", func() bool {
		return e.ipStatus("127.0.0.4").Status == api.IPActive
	})
	if back := time.Since(removed); back < time.Second {
		t.Errorf("back %v after delisting, before the 1s cool-down", back)
	}
	for i := 0; ; i++ {
		if i == 20 {
			t.Fatal("127.0.0.4 not used after it returned")
		}
		id := fmt.Sprintf("clear%d", i)
		e.send(id, id+"@gmail.test")
		if e.waitArrived("gmail.test", id) == "127.0.0.4" {
			break
		}
	}
}

// TestAllIPsSuspendedMailWaits: with every IP suspended, a message is not
// bounced: it is deferred and goes out when the first suspension ends, long
// before its next retry step (1h here).
func TestAllIPsSuspendedMailWaits(t *testing.T) {
	t.Parallel()
	e := poolEnv(t, `retry = ["1h"]`, nil)
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		if _, err := e.api().SuspendIP(ctx, ip, time.Duration(3+i)*time.Second, "test"); err != nil {
			t.Fatal(err)
		}
	}
	e.send("waits", "waits@gmail.test")
	if src := e.waitArrived("gmail.test", "waits"); src != "127.0.0.2" {
		t.Errorf("arrived from %s, want 127.0.0.2, the first to return", src)
	}
	list, err := e.api().Messages(ctx, queue.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("messages %v, %v", list, err)
	}
	var d *queue.MessageDetail
	waitFor(t, 10*time.Second, "delivered in the API", func() bool {
		d, err = e.api().Message(ctx, list[0].ID)
		return err == nil && d.Status == queue.StatusDelivered
	})
	at := d.Recipients[0].Attempts
	if len(at) != 2 || !strings.Contains(at[0].Response, "no usable source IP") || at[0].Verdict != "deferred" {
		t.Errorf("attempts %+v, want a deferral for want of an IP, then the delivery", at)
	}
}
