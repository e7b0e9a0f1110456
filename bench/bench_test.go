package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPlan is a tiny plan against the real binary, built once per test.
func testPlan(t *testing.T, n int) *plan {
	t.Helper()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := buildSendpool(ctx, tmp)
	if err != nil {
		t.Fatal(err)
	}
	return &plan{N: n, Sessions: 3, Size: 2048, Domains: []string{"gmail.test", "yahoo.test"},
		Drain: 30 * time.Second, TmpDir: tmp, Bin: bin, Log: io.Discard}
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
			f, err := p.runSendpool(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if f.Accepted != 50 || f.Failed != 0 || f.Delivered != 50 {
				t.Fatalf("accepted %d, failed %d (%v), delivered %d; want 50, 0, 50", f.Accepted, f.Failed, f.FirstErr, f.Delivered)
			}
			if got := strings.Join(f.Signatures, ","); got != want[r.Key] {
				t.Errorf("signatures on arrival %q, want %q", got, want[r.Key])
			}
			if f.AcceptRate <= 0 || f.E2ERate <= 0 || f.P50 <= 0 || f.P99 < f.P50 || f.PeakRSSKB <= 0 || f.CPUPer1000 <= 0 {
				t.Errorf("figures missing: %+v", f)
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

// The private Postfix's config relays each sink domain to its sink, with
// chroot off, no local delivery and its log where it may be written.
func TestPostfixConfig(t *testing.T) {
	p := &plan{Domains: []string{"gmail.test", "yahoo.test"}}
	w, err := p.newWorld()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	if err := writePostfixConfig(dir, "127.0.0.1:2600", w, p.Domains); err != nil {
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
