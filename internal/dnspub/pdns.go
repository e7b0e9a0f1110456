package dnspub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// PowerDNS publishes through PowerDNS's HTTP API: PATCH
// /api/v1/servers/{server_id}/zones/{zone} with rrsets, authenticated by
// the X-API-Key header.
type PowerDNS struct {
	Zone     string // without the final dot
	URL      string // e.g. "http://127.0.0.1:8081"
	APIKey   string
	ServerID string // "localhost" unless the API says otherwise
	Client   *http.Client
}

var _ Backend = (*PowerDNS)(nil)

// pdnsTimeout bounds one API call when no Client is given.
const pdnsTimeout = 20 * time.Second

type pdnsRecord struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

type pdnsRRset struct {
	Name       string       `json:"name"`
	Type       string       `json:"type"`
	TTL        int          `json:"ttl,omitempty"`
	ChangeType string       `json:"changetype,omitempty"`
	Records    []pdnsRecord `json:"records"`
}

func (b *PowerDNS) zoneURL() string {
	return strings.TrimSuffix(b.URL, "/") + "/api/v1/servers/" + url.PathEscape(b.ServerID) +
		"/zones/" + url.PathEscape(mdns.Fqdn(b.Zone))
}

func (b *PowerDNS) do(ctx context.Context, method string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.zoneURL(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", b.APIKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := b.Client
	if c == nil {
		c = &http.Client{Timeout: pdnsTimeout}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("dnspub: powerdns %s %s: %w", method, b.Zone, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(data, &e)
		return fmt.Errorf("dnspub: powerdns %s %s: %s %s", method, b.Zone, resp.Status, e.Error)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Lookup reads the zone through the API (the records as stored, what the
// server will answer).
func (b *PowerDNS) Lookup(ctx context.Context, name, typ string) ([]string, error) {
	var z struct {
		RRsets []pdnsRRset `json:"rrsets"`
	}
	if err := b.do(ctx, http.MethodGet, nil, &z); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range z.RRsets {
		if s.Type != typ || !strings.EqualFold(s.Name, mdns.Fqdn(name)) {
			continue
		}
		for _, r := range s.Records {
			if r.Disabled {
				continue
			}
			// Contents are in zone-file form: parse them as such.
			parsed, err := mdns.NewRR(mdns.Fqdn(name) + " 60 IN " + typ + " " + r.Content)
			if err != nil || parsed == nil {
				return nil, fmt.Errorf("dnspub: powerdns %s %s: %q: %v", name, typ, r.Content, err)
			}
			if v, ok := value(parsed); ok {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// Replace sends one PATCH: REPLACE with the values, or DELETE for none.
// The API has no prerequisite, so was is not checked.
func (b *PowerDNS) Replace(ctx context.Context, name, typ string, _, values []string) error {
	set := pdnsRRset{Name: mdns.Fqdn(name), Type: typ, TTL: ttl, ChangeType: "REPLACE", Records: []pdnsRecord{}}
	if len(values) == 0 {
		set.ChangeType, set.TTL = "DELETE", 0
	}
	for _, v := range values {
		r, err := rr(name, typ, v, ttl)
		if err != nil {
			return err
		}
		// The record's zone-file text after its header is the content.
		content := strings.TrimPrefix(r.String(), r.Header().String())
		set.Records = append(set.Records, pdnsRecord{Content: content})
	}
	return b.do(ctx, http.MethodPatch, map[string]any{"rrsets": []pdnsRRset{set}}, nil)
}
