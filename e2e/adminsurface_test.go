package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/apiclient"
)

// TestServeMakesAdminToken: serve with no http.admin_token writes one to
// data_dir/admin_token (mode 0600), logs where (never the token), refuses
// API calls without it, even from loopback, and keeps it across restarts.
func TestServeMakesAdminToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	writeFile(t, e.config, strings.Replace(readFile(t, e.config), `admin_token = "e2e-token"`, "", 1))
	p := e.serve()
	path := filepath.Join(e.dataDir, "admin_token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	tok := strings.TrimSpace(readFile(t, path))
	if len(tok) < 40 {
		t.Fatalf("token %q: want 32 random bytes", tok)
	}
	if out := p.out.String(); !strings.Contains(out, path) || strings.Contains(out, tok) {
		t.Errorf("the log must name the file and never the token:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, bad := range []string{"", "e2e-token"} {
		if _, err := apiclient.New("http://"+e.http, bad).Accounts(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("token %q: %v, want 401", bad, err)
		}
	}
	if _, err := apiclient.New("http://"+e.http, tok).Accounts(ctx); err != nil {
		t.Fatalf("with the generated token: %v", err)
	}
	// The CLI finds it with -token-file.
	cli := exec.Command(binary, "account", "ls", "-api", "http://"+e.http, "-token-file", path)
	cli.Env = append(os.Environ(), "SENDPOOL_TOKEN=")
	if out, err := cli.CombinedOutput(); err != nil || !strings.Contains(string(out), "NAME") {
		t.Errorf("account ls -token-file: %v\n%s", err, out)
	}
	p.kill()
	e.serve()
	if b := strings.TrimSpace(readFile(t, path)); b != tok {
		t.Errorf("token changed across a restart")
	}
	if _, err := apiclient.New("http://"+e.http, tok).Accounts(ctx); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}

// TestCrossSiteRequestRefused: the attack of issue 11 against the built
// binary: a page of another site posting text/plain (no preflight) to
// create an account owning a bank's domain, even with the admin's token,
// is refused and nothing is created; a foreign Host (DNS rebinding) gets
// 421.
func TestCrossSiteRequestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "")
	e.serve()
	do := func(host, origin, ctype string) (int, string) {
		req, err := http.NewRequest("POST", "http://"+e.http+"/api/v1/accounts",
			strings.NewReader(`{"name":"phish","password":"long-enough-pw","domains":["paypal.com"]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer e2e-token")
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("", "http://evil.example", "text/plain"); code != http.StatusForbidden {
		t.Errorf("foreign Origin, text/plain: %d %s", code, body)
	}
	if code, body := do("", "", "text/plain"); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d %s", code, body)
	}
	if code, body := do("rebind.evil.example", "", "application/json"); code != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := e.api().Accounts(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("accounts after the refusals: %+v, %v", list, err)
	}
	// The same request as the CLI sends it is the admin's own.
	if code, body := do("", "", "application/json"); code != http.StatusCreated {
		t.Errorf("JSON, no Origin: %d %s", code, body)
	}
}
