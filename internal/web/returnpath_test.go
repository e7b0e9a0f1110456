package web_test

import (
	"strings"
	"testing"

	"sendpool/internal/account"
)

// TestDeliverabilityReturnPath: with a return-path host, the panel shows
// the bounces.<domain> CNAME's live status and what DNS holds instead.
func TestDeliverabilityReturnPath(t *testing.T) {
	e := newEnv(t, token)
	e.recs.ReturnPathHost = "bounce.relay.sendpool.test"
	ctx := t.Context()
	if err := e.store.CreateAccount(ctx, &account.Account{Name: "shop", Domains: []string{"shop.test"},
		Status: account.StatusActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.keys.Add(ctx, "shop.test", "shop"); err != nil {
		t.Fatal(err)
	}
	e.dns.SetCNAME("bounces.shop.test", "bounce.elsewhere.test")

	c := client(t)
	e.login(t, c)
	code, page, _ := get(t, c, e.srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d\n%s", code, page)
	}
	i := strings.Index(page, `<td class="mono">bounces.shop.test</td>`)
	if i < 0 {
		t.Fatalf("no return-path row:\n%s", page)
	}
	row := page[i : i+strings.Index(page[i:], "</tr>")]
	for _, want := range []string{"<td>return-path</td>", `badge wrong">wrong<`, "bounce.elsewhere.test"} {
		if !strings.Contains(row, want) {
			t.Errorf("return-path row lacks %q:\n%s", want, row)
		}
	}
}
