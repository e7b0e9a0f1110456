package e2e

import (
	"context"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/store/sqlite"
)

// TestBackupUnderLoad: `sendpool backup` taken while serve accepts mail
// continuously and every message waits in the queue (the receiver
// defers). The copy opens in the sqlite3 command line tool and holds
// every message whose 250 came before the backup started; serve started
// on the copy, in a new data dir, delivers them once the receiver
// accepts.
func TestBackupUnderLoad(t *testing.T) {
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sqlite3 not installed (Debian package sqlite3; scripts/services/packages)")
		}
		t.Skip("sqlite3 not installed: apt-get install sqlite3")
	}
	// The same node_id for the node on the copy: it takes the leases of
	// deliveries that were in flight at the backup back at once.
	e := newEnv(t, map[string]string{"later.test": "127.0.0.31"}, `retry = ["2s"]`)
	writeFile(t, e.config, strings.Replace(readFile(t, e.config), "[server]\n", "[server]\nnode_id = \"backup-e2e\"\n", 1))
	sink := e.world.Sink("later.test")
	sink.SetRules(sandbox.Rule{Stage: sandbox.StageRcpt, Reply: "451 4.3.0 Try again later"})
	ballast := prefill(t, e.dataDir)
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	sub := &submitter{addr: e.smtp, user: "shop1", pass: "pw-shop1-secret"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for s := range 2 { // two hosting servers relaying at once
		wg.Go(func() { sub.run(t, fmt.Sprintf("s%d-", s), stop) })
	}
	waitFor(t, 30*time.Second, "100 messages accepted", func() bool { return sub.count() >= 100 })

	before := sub.acked()
	started := time.Now()
	copyPath := filepath.Join(t.TempDir(), "queue-copy.db")
	out, err := exec.Command(binary, "backup", "-config", e.config, "-to", copyPath).CombinedOutput()
	ended := time.Now()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("backup: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // a few more accepted after the copy
	close(stop)
	wg.Wait()
	if sub.failed() != nil {
		t.Fatalf("submitting: %v", sub.failed())
	}
	t.Logf("backup output:\n%s", out)
	logLatencies(t, sub, started, ended)

	// The copy, as sqlite3 reads it.
	rows, err := exec.Command(sqlite3, "-readonly", copyPath, "SELECT id FROM messages").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, rows)
	}
	inCopy := map[string]bool{}
	for _, id := range strings.Fields(string(rows)) {
		inCopy[id] = true
	}
	for _, a := range before {
		if !inCopy[a.id] {
			t.Errorf("message %s (250 at %v, before the backup) is not in the copy", a.id, a.at.Format(time.StampMilli))
		}
	}
	if !strings.Contains(string(out), fmt.Sprintf("messages:   %d\n", len(inCopy))) {
		t.Errorf("backup reported other than the %d messages the copy holds", len(inCopy))
	}
	if check, err := exec.Command(sqlite3, "-readonly", copyPath, "PRAGMA integrity_check").CombinedOutput(); err != nil || strings.TrimSpace(string(check)) != "ok" {
		t.Errorf("integrity_check: %v %s", err, check)
	}
	// The mail of the copy: every message accepted before the backup, and
	// those accepted while it ran that made it in.
	var want []string
	for _, a := range sub.acked() {
		if inCopy[a.id] {
			want = append(want, a.token)
		}
	}
	t.Logf("%d messages accepted before the backup started, %d in the copy (and %d held as ballast), %d accepted in all",
		len(before), len(want), ballast, sub.count())

	// Restore: the original node stops; a node on a new data dir holding
	// the copy as queue.db delivers, now that the receiver accepts.
	p.kill()
	e2 := *e
	e2.dataDir = t.TempDir()
	e2.smtp = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e2.http = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := readFile(t, e.config)
	for _, r := range [][2]string{{e.dataDir, e2.dataDir}, {e.smtp, e2.smtp}, {e.http, e2.http}} {
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	e2.config = filepath.Join(t.TempDir(), "restored.toml")
	writeFile(t, e2.config, cfg)
	if err := os.Link(copyPath, filepath.Join(e2.dataDir, "queue.db")); err != nil {
		t.Fatal(err)
	}
	sink.SetRules()
	e2.serve()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d messages delivered from the restored copy", len(want)), func() bool {
		return len(sink.Messages()) >= len(want)
	})
	got := messageIDs(sink)
	for _, tok := range want {
		if !slices.Contains(got, tok) {
			t.Errorf("%s, in the copy, not delivered", tok)
		}
	}
}

// prefill puts SENDPOOL_BACKUP_MESSAGES held messages (default none) in
// the store before serve starts: ballast that makes the copy as large as
// a busy node's without delivering anything.
func prefill(t *testing.T, dataDir string) int {
	n, _ := strconv.Atoi(os.Getenv("SENDPOOL_BACKUP_MESSAGES"))
	if n <= 0 {
		return 0
	}
	st, err := sqlite.Open(filepath.Join(dataDir, "queue.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	body := []byte(strings.Repeat("Ballast line of a held message.\r\n", 120))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				m := &queue.Message{Account: "ballast", From: "b@ballast.test", Body: body,
					Recipients: []string{"r@ballast.test"}, Expires: time.Now().Add(72 * time.Hour)}
				if err := st.Put(context.Background(), m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := st.HoldAccount(context.Background(), "ballast"); err != nil {
		t.Fatal(err)
	}
	return n
}

// accepted is one message serve answered 250 for.
type accepted struct {
	id, token string // queue id, from "queued as ID"; the Message-ID's token
	at        time.Time
	took      time.Duration // from the end of the data to the 250
}

// submitter relays messages over SMTP until stopped, one session per
// goroutine, retrying a 4xx as an MTA would, and keeps every 250's id.
type submitter struct {
	addr, user, pass string

	mu   sync.Mutex
	done []accepted
	err  error
}

func (s *submitter) run(t *testing.T, prefix string, stop <-chan struct{}) {
	c, err := smtp.Dial(s.addr)
	if err == nil {
		defer c.Close()
		if err = c.Hello("client.e2e.test"); err == nil {
			err = c.Auth(smtp.PlainAuth("", s.user, s.pass, "127.0.0.1"))
		}
	}
	for i := 0; err == nil; i++ {
		select {
		case <-stop:
			return
		default:
		}
		token := prefix + strconv.Itoa(i)
		var a accepted
		a, err = sendGetID(c, "s@shop1.test", "r"+strconv.Itoa(i)+"@later.test", token)
		if err != nil && strings.HasPrefix(err.Error(), "4") {
			err = c.Reset() // a temporary refusal: the client tries again
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err == nil {
			s.mu.Lock()
			s.done = append(s.done, a)
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *submitter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.done)
}

func (s *submitter) acked() []accepted {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.done)
}

func (s *submitter) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// sendGetID runs one transaction and returns the id of the 250 reply,
// which net/smtp's Data writer drops: the end of the data is read here.
func sendGetID(c *smtp.Client, from, to, token string) (accepted, error) {
	if err := c.Mail(from); err != nil {
		return accepted{}, err
	}
	if err := c.Rcpt(to); err != nil {
		return accepted{}, err
	}
	id, err := c.Text.Cmd("DATA")
	if err != nil {
		return accepted{}, err
	}
	c.Text.StartResponse(id)
	_, _, err = c.Text.ReadResponse(354)
	c.Text.EndResponse(id)
	if err != nil {
		return accepted{}, err
	}
	w := c.Text.DotWriter()
	if _, err := w.Write(message(from, to, token)); err != nil {
		return accepted{}, err
	}
	t0 := time.Now()
	if err := w.Close(); err != nil {
		return accepted{}, err
	}
	_, msg, err := c.Text.ReadResponse(250)
	if err != nil {
		return accepted{}, err
	}
	_, qid, ok := strings.Cut(msg, "queued as ")
	if !ok {
		return accepted{}, fmt.Errorf("250 without an id: %q", msg)
	}
	now := time.Now()
	return accepted{id: strings.TrimSpace(qid), token: token, at: now, took: now.Sub(t0)}, nil
}

// logLatencies logs how long serve took to answer 250 (each one a
// durable commit) before and during the backup: the writer's wait, if
// the backup made it wait.
func logLatencies(t *testing.T, s *submitter, started, ended time.Time) {
	var base, during []time.Duration
	for _, a := range s.acked() {
		switch begin := a.at.Add(-a.took); {
		case a.at.Before(started):
			base = append(base, a.took)
		case !begin.Before(started) && a.at.Before(ended):
			during = append(during, a.took)
		}
	}
	if len(during) == 0 {
		t.Fatalf("no message accepted within the %v backup: serve waited for it", ended.Sub(started))
	}
	slices.Sort(base)
	slices.Sort(during)
	t.Logf("backup took %v (the command, start to exit); 250s before it: %d, p50 %v, max %v; within it: %d, p50 %v, p99 %v, max %v",
		ended.Sub(started).Round(time.Millisecond), len(base), base[len(base)/2], base[len(base)-1],
		len(during), during[len(during)/2], during[len(during)*99/100], during[len(during)-1])
}
