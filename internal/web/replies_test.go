package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"sendpool/internal/history"
	"sendpool/internal/testclock"
)

// TestIPRepliesPage: the IP pool page shows each IP's last 5 replies
// (escaped) and links to its page of all kept replies; the JSON API gives
// the same list, newest first, limited as asked.
func TestIPRepliesPage(t *testing.T) {
	e := newEnv(t, token)
	c := client(t)
	e.login(t, c)
	t0 := testclock.New().Now()
	for i := range 7 {
		e.replies.Add(history.Reply{Time: t0.Add(time.Duration(i) * time.Minute), SourceIP: "127.0.0.2", MX: "mx.gmail.test",
			MXAddr: "127.0.0.11:25", Domain: "gmail.test", Response: fmt.Sprintf("250 2.0.0 Ok: queued as Q%d", i),
			Verdict: "delivered", Category: "accepted", Rcpts: 1})
	}
	e.replies.Add(history.Reply{Time: t0, SourceIP: "127.0.0.3", MX: "mx.yahoo.test", Domain: "yahoo.test",
		Response: "554 5.7.1 <b>blocked</b> using zen.spamhaus.org", Verdict: "blocked-ip", Category: "blacklist", Rcpts: 3})

	code, page, _ := get(t, c, e.srv.URL+"/ips")
	if code != http.StatusOK {
		t.Fatalf("/ips: %d\n%s", code, page)
	}
	for i := 2; i < 7; i++ {
		if !strings.Contains(page, fmt.Sprintf("queued as Q%d", i)) {
			t.Errorf("IP page lacks reply Q%d of the last 5", i)
		}
	}
	for _, old := range []string{"queued as Q0", "queued as Q1"} {
		if strings.Contains(page, old) {
			t.Errorf("IP page shows %q, older than the last 5", old)
		}
	}
	// 127.0.0.2's five, newest first, then 127.0.0.3's section.
	if i6, i2, i3 := strings.Index(page, "Q6"), strings.Index(page, "Q2"), strings.Index(page, "zen.spamhaus.org"); !(i6 < i2 && i2 < i3) {
		t.Errorf("order: Q6 at %d, Q2 at %d, 127.0.0.3's block at %d", i6, i2, i3)
	}
	for _, want := range []string{"&lt;b&gt;blocked&lt;/b&gt; using zen.spamhaus.org", `badge blocked-ip">blocked-ip<`,
		"yahoo.test ×3", "mx.gmail.test (127.0.0.11:25)", `href="/ips/127.0.0.2/replies"`, `href="/ips/127.0.0.3/replies"`,
		"(more than 5)", t0.Add(6 * time.Minute).Format("2006-01-02 15:04:05Z")} {
		if !strings.Contains(page, template(want)) {
			t.Errorf("IP page lacks %q", want)
		}
	}

	code, page, _ = get(t, c, e.srv.URL+"/ips/127.0.0.2/replies")
	if code != http.StatusOK {
		t.Fatalf("replies page: %d\n%s", code, page)
	}
	for i := range 7 {
		if !strings.Contains(page, fmt.Sprintf("queued as Q%d", i)) {
			t.Errorf("replies page lacks Q%d", i)
		}
	}
	if code, _, _ := get(t, c, e.srv.URL+"/ips/127.0.0.9/replies"); code != http.StatusNotFound {
		t.Errorf("replies page of an IP not in the pool: %d", code)
	}

	// The API: GET /api/v1/ips/{address}/replies?limit=N.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/ips/127.0.0.2/replies?limit=2", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list []history.Reply
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(list) != 2 || !strings.HasSuffix(list[0].Response, "Q6") ||
		!strings.HasSuffix(list[1].Response, "Q5") || list[0].Verdict != "delivered" || list[0].Domain != "gmail.test" {
		t.Fatalf("API: %d %+v %v", resp.StatusCode, list, err)
	}
	for _, u := range []string{"/api/v1/ips/127.0.0.2/replies?limit=0", "/api/v1/ips/127.0.0.2/replies?limit=51", "/api/v1/ips/127.0.0.9/replies"} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 404, false: 400}[strings.Contains(u, ".9/")]; resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", u, resp.StatusCode, want)
		}
	}
}
