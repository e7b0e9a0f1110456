package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sendpool/internal/intake"
	"sendpool/internal/metrics"
	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
)

// runCmd runs the command line in process.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = run(args, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestConfigDocMarkdownFresh: docs/configuration.md is what config-doc
// prints today.
func TestConfigDocMarkdownFresh(t *testing.T) {
	code, out, errOut := runCmd("config-doc", "-markdown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatal("docs/configuration.md is stale: run `go generate ./cmd/sendpool`")
	}
}

// TestConfigDoc: the text reference names each key with its type, its
// default as TOML and its doc.
func TestConfigDoc(t *testing.T) {
	code, out, errOut := runCmd("config-doc")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"[server]", "server.hostname  (string)  default: (the machine's host name)",
		`store.retention  (duration)  default: "720h"`,
		`submission.max_message_size  (size)  default: "25MB"`,
		`delivery.retry  (array of durations)  default: ["5m", "10m", "30m", "1h", "2h", "4h"]`,
		"[[pool.ip]]", "pool.ip[].ehlo  (string)  default: (server.hostname)",
		"[pool.warmup.NAME]", "pool.warmup.NAME.days  (integer)  default: 21",
		"[pool.warmup.NAME.caps.PROVIDER]", "scan.spam_reject_score  (float)  default: 6.0",
		"`retention` is how long a finished message",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config-doc lacks %q", want)
		}
	}
	if code, _, _ := runCmd("config-doc", "extra"); code != 2 {
		t.Errorf("config-doc extra: exit %d, want 2", code)
	}
}

// TestVersion: version, commit, Go version and static or not.
func TestVersion(t *testing.T) {
	code, out, errOut := runCmd("version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"sendpool ", "commit:  ", "go:      " + runtime.Version(), "static:  "} {
		if !strings.Contains(out, want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCmd("version", "-json")
	if code != 0 || !strings.Contains(out, `"go_version": "`+runtime.Version()+`"`) || !strings.Contains(out, `"static": `) {
		t.Errorf("version -json: exit %d\n%s", code, out)
	}
}

// TestBackupCommand: a copy of data_dir/queue.db with what it holds
// printed; an existing file is never overwritten; with MongoDB the
// command says what to use instead.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(data, "queue.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m := &queue.Message{Account: "acme", From: "a@acme.test", Body: []byte("Subject: x\r\n\r\nx\r\n"),
			Recipients: []string{"r@one.test", "s@two.test"}, Expires: time.Now().Add(time.Hour)}
		if err := st.Put(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	defer st.Close() // open, as under a running serve
	cfg := filepath.Join(dir, "sendpool.toml")
	if err := os.WriteFile(cfg, []byte("[server]\ndata_dir = "+quote(data)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(dir, "copy.db")
	code, out, errOut := runCmd("backup", "-config", cfg, "-to", to)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"backup:     " + to, "messages:   3\n", "deliveries: 6 queued, 0 deferred", "size:", "took:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := runCmd("backup", "-config", cfg, "-to", to); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("second backup to the same file: exit %d, %s", code, errOut)
	}
	if code, _, _ := runCmd("backup", "-config", cfg); code != 2 {
		t.Errorf("backup without -to: exit %d, want 2", code)
	}
	mongo := filepath.Join(dir, "mongo.toml")
	if err := os.WriteFile(mongo, []byte("[store]\nbackend = \"mongodb\"\n[http]\nadmin_token = \"t\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd("backup", "-config", mongo, "-to", filepath.Join(dir, "m.db")); code != 1 || !strings.Contains(errOut, "mongodump") {
		t.Errorf("backup with MongoDB: exit %d, %s", code, errOut)
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

// TestIntakeMetrics: intake's decisions reach the accepted and rejected
// counters, a scan's refusal named spam or virus.
func TestIntakeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	observe := intakeMetrics(metrics.New(reg))
	for _, d := range []intake.Decision{
		{Protocol: "ESMTPSA"}, {Protocol: "ESMTPA"}, {Protocol: "HTTP"},
		{Err: intake.Spam("scan", "score 9")}, {Err: intake.Virus("scan", "Eicar")},
		{Err: intake.LimitReached("limit", "over", "")},
	} {
		observe(t.Context(), d)
	}
	for name, want := range map[string]float64{
		`sendpool_messages_accepted_total{protocol="smtp"}`: 2, `sendpool_messages_accepted_total{protocol="http"}`: 1,
		`sendpool_messages_rejected_total{reason="spam"}`: 1, `sendpool_messages_rejected_total{reason="virus"}`: 1,
		`sendpool_messages_rejected_total{reason="limit"}`: 1,
	} {
		if got := counterValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// counterValue reads one series, written as in the exposition format.
func counterValue(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if mf.GetName()+"{"+strings.Join(labels, ",")+"}" == series {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
