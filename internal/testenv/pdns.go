package testenv

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// SetTXT replaces name's TXT records in the zone through PowerDNS's API
// directly, as a customer's own tooling would. PowerDNS's SQLite backend
// answers 500 ("database is locked") when another write (sendpool
// publishing the zone) holds it at that moment: a 5xx is tried again, as
// sendpool's publisher does.
func (p PDNS) SetTXT(t testing.TB, name string, values ...string) {
	t.Helper()
	var recs []map[string]any
	for _, v := range values {
		recs = append(recs, map[string]any{"content": `"` + v + `"`, "disabled": false})
	}
	body, _ := json.Marshal(map[string]any{"rrsets": []map[string]any{{"name": name + ".", "type": "TXT", "ttl": 300,
		"changetype": "REPLACE", "records": recs}}})
	for try := 1; ; try++ {
		req, _ := http.NewRequest(http.MethodPatch, p.URL+"/api/v1/servers/localhost/zones/"+p.Zone+".", bytes.NewReader(body))
		req.Header.Set("X-API-Key", p.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return
		}
		if resp.StatusCode/100 != 5 || try == 10 {
			t.Fatalf("PowerDNS PATCH: %s (try %d)", resp.Status, try)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
