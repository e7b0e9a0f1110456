package e2e

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAuthLockout: the binary wires [auth] into submission: past
// auth.max_failures wrong passwords the right one gets 454 4.7.0 and the
// connection is closed; the lockout is logged once and counted in
// /metrics.
func TestAuthLockout(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "[auth]\nmax_failures = 3\n")
	p := e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	c := dialRaw(t, e.smtp)
	c.must("EHLO client.test", 250)
	for range 3 {
		c.must(authBad, 535)
	}
	if code, msg := c.cmd(authGood); code != 454 || msg != "4.7.0 Too many authentication failures, try again later" {
		t.Fatalf("right password after 3 failures: %d %s, want 454 4.7.0", code, msg)
	}
	if line, err := c.tp.ReadLine(); !errors.Is(err, io.EOF) {
		t.Fatalf("after 454: %q, %v; want the connection closed", line, err)
	}

	resp, err := http.Get("http://" + e.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `sendpool_auth_lockouts_total{scope="ip"} 1`) {
		t.Errorf("/metrics lacks one IP lockout:\n%s", grepLines(string(b), "sendpool_auth"))
	}
	if n := strings.Count(p.out.String(), "auth lockout"); n != 1 {
		t.Errorf("%d lockouts logged, want 1", n)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
