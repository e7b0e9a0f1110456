package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	mdns "github.com/miekg/dns"

	"sendpool/internal/api"
	"sendpool/internal/sandbox"
)

// The MX mode (issue 16): `go run ./bench -inbound` measures sendpool's
// MX gate beside Postfix's postscreen in the same run, with the same
// load: outside clients (forward-confirmed, listed nowhere) sending to
// a hosted domain, whose mail goes on to its hosting server (a counting
// sink). Both run the same before-the-banner tests: a greet pause that
// a client passes once (then it is remembered), and a DNSBL lookup on
// the sandbox zone bl.test. Neither verifies recipients nor greylists
// here; sendpool also runs its heuristic scanner and SPF, DKIM and DMARC
// and adds Authentication-Results, which Postfix alone does not do.

const (
	mxDomain     = "shop.test"
	mxFrom       = "news@outside.test"
	mxNameserver = "127.0.0.153" // the bench's DNS on port 53, for Postfix
	mxGreetWait  = "1s"
)

// mxDNS is the DNS both MXs ask: the client's forward-confirmed name and
// the DNSBL zone (listing an address the load does not use).
func mxDNS(d *sandbox.DNSServer) {
	d.SetPTR("127.0.0.1", "client.outside.test")
	d.SetA("client.outside.test", "127.0.0.1")
	d.SetA("9.0.0.127.bl.test", "127.0.0.2")
}

// inboundMode runs both MXs and prints them side by side.
func (p *plan) inboundMode(ctx context.Context, out io.Writer, only string) error {
	// Postfix has no resolver setting: it gets a DNS server on port 53
	// of its own loopback address (sandbox.PostfixConfig.Nameserver).
	ns, err := sandbox.NewDNSServer(net.JoinHostPort(mxNameserver, "53"))
	if err != nil {
		return fmt.Errorf("the bench's DNS on %s:53: %w", mxNameserver, err)
	}
	defer ns.Close()
	mxDNS(ns)
	var runs []*Figures
	var sp, pf *Figures
	if only != "postfix" {
		fmt.Fprintln(out, "sendpool MX:")
		if sp, err = p.runSendpoolMX(ctx); err != nil {
			return fmt.Errorf("sendpool MX: %w", err)
		}
		runs = append(runs, sp)
	}
	if only != "sendpool" {
		fmt.Fprintln(out, "postfix with postscreen:")
		if pf, err = p.runPostscreen(ctx); err != nil {
			return fmt.Errorf("postscreen: %w", err)
		}
		// Its DNSBL lookups went to the bench's DNS, nowhere else.
		pf.Notes = append(pf.Notes, fmt.Sprintf("postscreen asked the bench's DNS %d times for 1.0.0.127.bl.test",
			ns.Queries("1.0.0.127.bl.test", mdns.TypeA)))
		runs = append(runs, pf)
	}
	fmt.Fprintln(out)
	printTable(out, runs, pf)
	if sp != nil && pf != nil {
		fmt.Fprintln(out, "targets (issue 16):")
		check(out, "accepted messages/s ≥ 2× Postfix with postscreen", sp.AcceptRate >= 2*pf.AcceptRate, ratio(sp.AcceptRate, pf.AcceptRate))
		check(out, "CPU per 1,000 ≤ ½ Postfix's", sp.CPUPer1000 <= pf.CPUPer1000/2,
			fmt.Sprintf("%.2f s vs %.2f s", sp.CPUPer1000, pf.CPUPer1000))
	}
	return nil
}

// mxWorld is the hosting server's sink and the sandbox DNS sendpool asks.
func (p *plan) mxWorld() (*sandbox.World, error) {
	w, err := sandbox.StartWorld(sandbox.WorldConfig{Domains: map[string]string{mxDomain: "127.0.0.11"}, Discard: true})
	if err != nil {
		return nil, err
	}
	mxDNS(w.DNS)
	return w, nil
}

// mxLoad is the outside world's load on addr.
func (p *plan) mxLoad(addr, runID string) LoadConfig {
	return LoadConfig{Addr: addr, From: mxFrom, Domains: []string{mxDomain}, N: p.N, Sessions: p.Sessions, Size: p.Size, RunID: runID}
}

func (p *plan) runSendpoolMX(ctx context.Context) (*Figures, error) {
	w, err := p.mxWorld()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	dir, err := os.MkdirTemp(p.TmpDir, "sendpool-mx-")
	if err != nil {
		return nil, err
	}
	mx, err := freeAddr()
	if err != nil {
		return nil, err
	}
	extra := fmt.Sprintf(`[inbound]
listen = [%q]
greet_pause = %q
recipients = "accept-all"
greylist = "off"
max_connections_per_ip = %d
connections_per_minute = 100000
[[inbound.dnsbl]]
zone = "bl.test"
weight = 1.0
codes = ["127.0.0.2"]
`, mx, mxGreetWait, p.Sessions+10)
	proc, err := startSendpool(ctx, sendpoolOptions{Bin: p.Bin, Dir: dir, World: w, Extra: extra, Pprof: p.ProfileDir != ""})
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	if p.ProfileDir != "" {
		stop := p.profile(ctx, proc, "mx")
		defer stop()
	}
	if _, err := proc.api().CreateAccount(ctx, api.AccountRequest{Name: "shop", Password: benchPassword,
		Domains: []string{mxDomain}, InboundHost: w.Sink(mxDomain).Addr()}); err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	f := &Figures{Name: "sendpool MX", Side: sideSendpool}
	if err := p.measure(ctx, f, p.mxLoad(mx, "mx"), w, meters{server: func() (float64, error) {
		s, _, err := cpuTimes(proc.pid())
		return s, err
	}}); err != nil {
		return nil, err
	}
	if f.PeakRSSKB, err = statusKB(proc.pid(), "VmHWM"); err != nil {
		return nil, err
	}
	f.Notes = append([]string{"greet pause " + mxGreetWait + " once per client, DNSBL bl.test, SPF/DKIM/DMARC and one Authentication-Results, heuristic scan, durable queue, delivery to the inbound_host"}, f.Notes...)
	return f, nil
}

func (p *plan) runPostscreen(ctx context.Context) (*Figures, error) {
	w, err := p.mxWorld()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	dir, err := os.MkdirTemp(p.TmpDir, "postscreen-")
	if err != nil {
		return nil, err
	}
	mx, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(w.Sink(mxDomain).Addr())
	pf, err := sandbox.StartPostfix(ctx, sandbox.PostfixConfig{
		Dir: dir,
		Main: map[string]string{
			"myhostname": "mx.postfix.bench.test",
			// Nobody relays by address: the clients are the outside world.
			"mynetworks":                 "127.0.0.250/32",
			"relay_domains":              mxDomain,
			"smtpd_relay_restrictions":   "reject_unauth_destination",
			"transport_maps":             "texthash:{{conf}}/transport",
			"postscreen_dnsbl_sites":     "bl.test=127.0.0.2*1",
			"postscreen_dnsbl_threshold": "1",
			"postscreen_dnsbl_action":    "enforce",
			"postscreen_greet_action":    "enforce",
			"postscreen_greet_wait":      mxGreetWait,
			"postscreen_cache_map":       "btree:$data_directory/postscreen_cache",
			"default_process_limit":      "200",
		},
		Services: []string{mx + " inet n - n - 1 postscreen", "smtpd pass - - n - - smtpd"},
		Files:    map[string]string{"transport": mxDomain + " smtp:[" + host + "]:" + port + "\n"},
		Listen:   mx,
		// postscreen's DNSBL lookups go to the bench's DNS only.
		Nameserver: mxNameserver,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := pf.Stop(); err != nil {
			fmt.Fprintln(p.Log, "  ", err)
		}
	}()
	master, err := pf.MasterPID()
	if err != nil {
		return nil, fmt.Errorf("postfix master pid: %w", err)
	}
	version, _ := postfixVersion(ctx)
	f, err := p.measureTree(ctx, "postfix "+version+" postscreen", p.mxLoad(mx, "ps"), w, master)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, pf.Log())
	}
	f.Notes = append([]string{"postscreen: greet wait " + mxGreetWait + " (cached), DNSBL bl.test; no SPF/DKIM/DMARC, no content scan; peak memory is the summed PSS of its processes"}, f.Notes...)
	return f, nil
}

// measureTree is measure for a server of many processes under master
// (Postfix): their CPU summed, and their summed PSS sampled for the peak
// rather than one process's high-water mark (not more often than
// pssEvery: the reading costs the bench CPU the server would have).
func (p *plan) measureTree(ctx context.Context, name string, lc LoadConfig, w *sandbox.World, master int) (*Figures, error) {
	rss := samplePeak(ctx, pssEvery, func() int64 { return treePSS(master) })
	f := &Figures{Name: name, Side: sidePostfix}
	err := p.measure(ctx, f, lc, w, meters{server: func() (float64, error) { return treeCPU(master) }})
	peak := rss.Stop()
	if err != nil {
		return nil, err
	}
	f.PeakRSSKB = peak
	return f, nil
}
