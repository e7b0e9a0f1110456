package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/sandbox"
	"sendpool/internal/testenv"
)

// testBin is the real binary, built once for all the tests that run it
// (TestMain removes it).
var testBin struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testBin.dir != "" {
		os.RemoveAll(testBin.dir)
	}
	os.Exit(code)
}

// testPlan is a tiny plan against the real binary.
func testPlan(t *testing.T, n int) *plan {
	t.Helper()
	testBin.once.Do(func() {
		// Bounded by the suite's -timeout alone: from an empty build cache on
		// a busy machine the build takes minutes.
		ctx := context.Background()
		if testBin.dir, testBin.err = os.MkdirTemp("", "sendpool-bench-bin-"); testBin.err == nil {
			testBin.bin, testBin.err = buildSendpool(ctx, testBin.dir)
		}
	})
	if testBin.err != nil {
		t.Fatal(testBin.err)
	}
	// Not t.TempDir(): Postfix's and OpenDKIM's daemons, running as their
	// users, must reach their directories below it, through every parent.
	tmp, err := os.MkdirTemp("", "sendpool-bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	return &plan{N: n, Sessions: 3, Size: 2048, SizeText: "2KB", Domains: []string{"gmail.test", "yahoo.test"},
		Drain: 30 * time.Second, TmpDir: tmp, Bin: testBin.bin, Log: io.Discard}
}

// testWorkload is the plan's size with client.
func testWorkload(p *plan, client string) workload {
	return workload{Size: p.Size, SizeText: p.SizeText, Client: client}
}

// checkDelivered fails unless every one of the run's messages was
// accepted and arrived, each header parsed, each signed when the run
// signs, and the figures came out.
func checkDelivered(t *testing.T, f *Figures, n int) {
	t.Helper()
	if f.Accepted != n || f.Failed != 0 || f.Delivered != n {
		t.Fatalf("accepted %d, failed %d (%v), delivered %d; want %d, 0, %d; notes %q", f.Accepted, f.Failed, f.FirstErr, f.Delivered, n, n, f.Notes)
	}
	if f.Sinks.Parsed != n || f.Sinks.Failed != 0 || f.Unsigned() != 0 {
		t.Errorf("sinks parsed %d, %d malformed, %d unsigned (signs: %v); want %d, 0, 0", f.Sinks.Parsed, f.Sinks.Failed, f.Unsigned(), f.Signs, n)
	}
	if f.AcceptRate <= 0 || f.E2ERate <= 0 || f.P50 <= 0 || f.P99 < f.P50 || f.PeakRSSKB <= 0 || f.CPUPer1000 <= 0 {
		t.Errorf("figures missing: %+v", f)
	}
}

// The load generator drives the real binary through the sandbox: every
// message accepted arrives at the sinks, signed as the run says, and the
// figures come out.
func TestBenchSendpool(t *testing.T) {
	p := testPlan(t, 50)
	runs, err := dkimRuns("auto")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"both": "rsa-sha256,ed25519-sha256", "rsa": "rsa-sha256", "ed25519": "ed25519-sha256", "off": ""}
	for _, r := range runs {
		t.Run(r.Key, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			f, err := p.runSendpool(ctx, testWorkload(p, clientPipelining), r)
			if err != nil {
				t.Fatal(err)
			}
			checkDelivered(t, f, 50)
			if got := strings.Join(f.Signatures, ","); got != want[r.Key] {
				t.Errorf("signatures on arrival %q, want %q", got, want[r.Key])
			}
			if len(f.Notes) == 0 || !strings.Contains(f.Notes[0], "DKIM") {
				t.Errorf("notes %q do not say whether DKIM was on", f.Notes)
			}
			var out bytes.Buffer
			printTable(&out, []*Figures{f}, nil)
			if !strings.Contains(out.String(), r.Name) || !strings.Contains(out.String(), "end-to-end msg/s") {
				t.Errorf("table:\n%s", out.String())
			}
		})
	}
}

// The plain client, one command at a time and a new connection every 10
// messages, delivers every message through the real binary.
func TestBenchPlainClient(t *testing.T) {
	p := testPlan(t, 50)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := p.runSendpool(ctx, testWorkload(p, clientPlain), dkimRun{"off", "sendpool, no DKIM", nil})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, f, 50)
}

// The plain client waits for each reply (every command group holds one
// command), carries at most plainPerConn messages per connection and says
// QUIT; the pipelining one sends MAIL, RCPT and DATA together.
func TestLoadClients(t *testing.T) {
	for _, client := range []string{clientPlain, clientPipelining} {
		t.Run(client, func(t *testing.T) {
			sink, err := sandbox.NewSink(sandbox.SinkConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			p := &plan{N: 25, Sessions: 2, Size: 1024, Domains: []string{"sink.test"}}
			lc := p.loadFor(sink.Addr(), "", "", "t", client)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := lc.Run(ctx)
			if res.Accepted != 25 || res.Failed != 0 {
				t.Fatalf("accepted %d, failed %d (%v)", res.Accepted, res.Failed, res.FirstErr)
			}
			conns := sink.Conns()
			mails := 0
			for _, c := range conns {
				n := 0
				for _, g := range c.Groups {
					if client == clientPlain && len(g) != 1 {
						t.Errorf("plain client pipelined %v", g)
					}
					if client == clientPipelining && g[0] == "MAIL" && strings.Join(g, " ") != "MAIL RCPT DATA" {
						t.Errorf("pipelining client sent %v", g)
					}
					if g[0] == "MAIL" {
						n++
					}
				}
				if last := c.Groups[len(c.Groups)-1]; last[len(last)-1] != "QUIT" {
					t.Errorf("connection ends with %v, not QUIT", last)
				}
				if client == clientPlain && n > plainPerConn {
					t.Errorf("%d messages on one connection, want at most %d", n, plainPerConn)
				}
				mails += n
			}
			if mails != 25 {
				t.Errorf("%d MAIL commands, want 25", mails)
			}
			if client == clientPlain && len(conns) < 3 {
				t.Errorf("%d connections for 25 messages, want a new one every %d", len(conns), plainPerConn)
			}
			// At most one per session: a session started late may find
			// every message taken by the other, and then never dials.
			if client == clientPipelining && (len(conns) == 0 || len(conns) > p.Sessions) {
				t.Errorf("%d connections, want one per session at most (%d)", len(conns), p.Sessions)
			}
		})
	}
}

// needPostfix skips the test unless Postfix, OpenDKIM and the SASL tools
// are installed and the test runs as root (private instances); in CI a
// skip would hide a missing install step (scripts/services/packages).
func needPostfix(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := postfixVersion(context.Background()); err != nil {
		missing = append(missing, "postfix")
	}
	for _, bin := range []string{"opendkim", "opendkim-genkey", "saslpasswd2"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat(filepath.Join("/usr/sbin", bin)); err != nil {
				missing = append(missing, bin)
			}
		}
	}
	why := ""
	switch {
	case len(missing) > 0:
		why = "not installed: " + strings.Join(missing, ", ") + " (scripts/services/packages installs them)"
	case os.Geteuid() != 0:
		why = "private Postfix instances need root"
	default:
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// The postfix-smarthost workload delivers every message through a
// hosting server's Postfix and the relay, on both sides: sendpool signing
// with RSA, and Postfix with OpenDKIM; and Postfix alone relays what the
// plain client sends it.
func TestBenchPostfix(t *testing.T) {
	needPostfix(t)
	p := testPlan(t, 50)
	for _, tc := range []struct {
		name   string
		client string
		run    func(ctx context.Context, wl workload) (*Figures, error)
	}{
		{"smarthost/sendpool", clientPostfix, func(ctx context.Context, wl workload) (*Figures, error) {
			return p.runSendpool(ctx, wl, dkimRun{"rsa", "sendpool, DKIM RSA", []string{"rsa-sha256"}})
		}},
		{"smarthost/postfix", clientPostfix, func(ctx context.Context, wl workload) (*Figures, error) {
			return p.runPostfix(ctx, wl, true)
		}},
		{"plain/postfix", clientPlain, func(ctx context.Context, wl workload) (*Figures, error) {
			return p.runPostfix(ctx, wl, false)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			f, err := tc.run(ctx, testWorkload(p, tc.client))
			if err != nil {
				t.Fatal(err)
			}
			checkDelivered(t, f, 50)
			want := ""
			if f.Signs {
				want = "rsa-sha256"
			}
			if got := strings.Join(f.Signatures, ","); got != want {
				t.Errorf("signatures on arrival %q, want %q", got, want)
			}
			if (tc.client == clientPostfix) != (f.FrontCPUPer1000 > 0) {
				t.Errorf("hosting server's Postfix CPU %.2f in the %s workload", f.FrontCPUPer1000, tc.client)
			}
			if (f.DKIM == "opendkim") != (f.MilterCPUPer1000 > 0) {
				t.Errorf("OpenDKIM CPU %.2f with DKIM %q", f.MilterCPUPer1000, f.DKIM)
			}
		})
	}
}

func TestDKIMRuns(t *testing.T) {
	for spec, want := range map[string]string{
		"auto": "both rsa ed25519 off", "on": "both rsa ed25519", "off": "off", "ed25519, rsa": "ed25519 rsa",
	} {
		runs, err := dkimRuns(spec)
		if err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		var keys []string
		for _, r := range runs {
			keys = append(keys, r.Key)
		}
		if got := strings.Join(keys, " "); got != want {
			t.Errorf("dkimRuns(%q) = %s, want %s", spec, got, want)
		}
	}
	if _, err := dkimRuns("rsa,dsa"); err == nil {
		t.Error(`dkimRuns("rsa,dsa") accepted`)
	}
	if got := (dkimRun{Algorithms: []string{"rsa-sha256", "ed25519-sha256"}}).config(); got != "[dkim]\nalgorithms = [\"rsa-sha256\", \"ed25519-sha256\"]\n" {
		t.Errorf("config %q", got)
	}
}

// Queued mode fills the store through its API with deferred mail and due
// mail, and sendpool drains the due mail.
func TestBenchQueued(t *testing.T) {
	p := testPlan(t, 20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := p.queuedMode(ctx, &out, 100); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"drained 20 due messages", "with 100 deferred", "lease/delivery rate"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// writePostfixConfig writes the config of the instance o under dir, as
// startPostfix would, without starting it.
func writePostfixConfig(dir, smtpAddr string, o postfixOptions) error {
	cfg, err := o.config(dir, smtpAddr)
	if err != nil {
		return err
	}
	return sandbox.WritePostfixConfig(cfg)
}

// The private Postfix's config relays each sink domain to its sink, with
// chroot off, no local delivery and its log where it may be written.
func TestPostfixConfig(t *testing.T) {
	p := &plan{Domains: []string{"gmail.test", "yahoo.test"}}
	w, err := p.newWorld("")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	if err := writePostfixConfig(dir, "127.0.0.1:2600", postfixOptions{Name: "relay", World: w, Domains: p.Domains}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, "conf", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	transport := read("transport")
	for _, d := range p.Domains {
		if want := d + " smtp:[" + strings.Replace(w.Sink(d).Addr(), ":", "]:", 1); !strings.Contains(transport, want) {
			t.Errorf("transport lacks %q:\n%s", want, transport)
		}
	}
	main := read("main.cf")
	for _, want := range []string{"queue_directory = " + dir + "/queue", "maillog_file = " + dir + "/log/maillog",
		"maillog_file_prefixes = " + dir + "/log", "mynetworks = 127.0.0.0/8", "local_transport = error:",
		"smtpd_relay_restrictions = permit_mynetworks, reject"} {
		if !strings.Contains(main, want) {
			t.Errorf("main.cf lacks %q", want)
		}
	}
	master := read("master.cf")
	if !strings.HasPrefix(strings.SplitN(master, "\n", 3)[1], "127.0.0.1:2600 inet") {
		t.Errorf("master.cf does not listen on the port:\n%s", master)
	}
	for _, line := range strings.Split(master, "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && !strings.HasPrefix(line, "#") && f[4] != "n" {
			t.Errorf("chroot not off: %q", line)
		}
	}
}

func TestDKIMAlgorithms(t *testing.T) {
	msg := "DKIM-Signature: v=1; a=rsa-sha256; d=bench.test; s=s1;\r\n\tb=abc\r\n" +
		"DKIM-Signature: v=1; a=ed25519-sha256;\r\n d=bench.test; s=s2; b=def\r\n" +
		"Subject: x\r\n\r\nDKIM-Signature: a=not-a-header\r\n"
	got := dkimAlgorithms([]byte(msg))
	if strings.Join(got, ",") != "rsa-sha256,ed25519-sha256" {
		t.Errorf("dkimAlgorithms = %q", got)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(nil, 99); p != 0 {
		t.Errorf("p99 of none = %v", p)
	}
}

// Two nodes on one MongoDB and one Redis (-store mongodb -nodes 2) share
// the load and deliver every message once.
func TestBenchCluster(t *testing.T) {
	testenv.MongoDB(t) // fail in CI without them, else skip
	testenv.Redis(t)
	mongoURI, redisURL, err := clusterURLs("", "") // Redis database 15, flushed
	if err != nil {
		t.Fatal(err)
	}
	p := testPlan(t, 40)
	p.Sessions = 4
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := clusterConfig{Nodes: 2, MongoURI: mongoURI, RedisURL: redisURL}
	f, err := p.runCluster(ctx, testWorkload(p, clientPipelining), c, "2 nodes")
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, f, 40)
	if len(f.Notes) == 0 || !strings.Contains(f.Notes[0], "2 nodes") {
		t.Errorf("notes %q do not say how many nodes", f.Notes)
	}
}
