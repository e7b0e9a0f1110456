package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/inbound"
	"sendpool/internal/store/sqlite"
	"sendpool/internal/web"
)

type fakeMX struct{}

func (fakeMX) Decisions(context.Context, int) ([]inbound.Decision, error) {
	now := time.Now()
	return []inbound.Decision{
		{Time: now, ClientIP: "192.0.2.7", Domain: "shop.test", Action: inbound.ActionRejected, Check: inbound.CheckDMARC, Code: 550,
			From: "ceo@bank.test", Rcpt: "alice@shop.test", Detail: "dmarc=fail <script>"},
		{Time: now, ClientIP: "192.0.2.8", Domain: "shop.test", Action: inbound.ActionAccepted, ID: "0abc", Code: 250},
		{Time: now, ClientIP: "192.0.2.9", Domain: "shop.test", Action: inbound.ActionTagged, Check: inbound.CheckSpam, Code: 250},
		{Time: now, ClientIP: "192.0.2.10", Action: inbound.ActionDropped, Check: inbound.CheckPregreet},
	}, nil
}

func (fakeMX) Bans(context.Context) ([]inbound.Ban, error) {
	return []inbound.Ban{{IP: "192.0.2.10", Reason: "pregreet: talked before the banner", Since: time.Now(), Until: time.Now().Add(time.Hour)}}, nil
}

// TestInboundPage: per domain, accepted, tagged, rejected and why; the
// recent decisions (escaped); the bans.
func TestInboundPage(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "sendpool.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := web.Mount(web.Config{Queue: st, Accounts: st, Token: token, Logger: logger, Inbound: fakeMX{}},
		api.New(api.Config{Queue: st, Accounts: st, Token: token, Logger: logger}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, store: st}
	c := client(t)
	e.login(t, c)
	code, page, _ := get(t, c, srv.URL+"/inbound")
	if code != http.StatusOK {
		t.Fatalf("/inbound: %d\n%s", code, page)
	}
	flat := strings.Join(strings.Fields(page), " ")
	for _, want := range []string{`<td class="mono">shop.test</td><td>1</td><td>1</td><td>1</td><td>0</td> <td>dmarc: 1 </td>`,
		"dmarc=fail &lt;script&gt;", `href="/messages/0abc"`, "pregreet: talked before the banner"} {
		if !strings.Contains(flat, want) {
			t.Errorf("/inbound lacks %q:\n%s", want, flat)
		}
	}
}
