package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"sendpool/internal/dns"
)

// Record is a domain's TXT record at _smtp._tls (RFC 8460 §3): where its
// reports go.
type Record struct {
	// RUA are the report URIs, mailto: and https: ones, in the order given.
	RUA []string
}

// Resolver is what looking the record up needs; *dns.Client implements
// it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// ErrNoRecord is a domain that asks for no reports.
var ErrNoRecord = errors.New("tlsrpt: no TLS-RPT record")

// ErrSyntax is a record that does not parse.
var ErrSyntax = errors.New("tlsrpt: syntax error")

// ParseRecord parses one TXT record (§3): "v=TLSRPTv1" first, then
// ";"-separated fields, of which rua (comma-separated URIs) is required;
// other fields are extensions, ignored. Of the URIs only mailto: and
// https: are kept (§3); a record with none of them is an error. rpt is
// false for a record that is not TLS-RPT at all.
func ParseRecord(txt string) (r Record, rpt bool, err error) {
	fields := strings.Split(txt, ";")
	if strings.Trim(fields[0], " \t") != "v=TLSRPTv1" || !strings.HasPrefix(txt, "v=TLSRPTv1") {
		return Record{}, false, nil
	}
	seen := false
	for i, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" && i == len(fields)-2 {
			break
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			return Record{}, true, fmt.Errorf("%w: field %q", ErrSyntax, f)
		}
		if k != "rua" || seen {
			continue
		}
		seen = true
		for _, u := range strings.Split(v, ",") {
			u = strings.Trim(u, " \t")
			pu, err := url.Parse(u)
			if err != nil {
				continue
			}
			switch strings.ToLower(pu.Scheme) {
			case "mailto":
				if _, err := mailtoAddress(u); err == nil {
					r.RUA = append(r.RUA, u)
				}
			case "https":
				if pu.Host != "" {
					r.RUA = append(r.RUA, u)
				}
			}
		}
	}
	if len(r.RUA) == 0 {
		return Record{}, true, fmt.Errorf("%w: no mailto: or https: rua", ErrSyntax)
	}
	return r, true, nil
}

// LookupRecord finds domain's record; none, or more than one (§3: then
// the domain takes no reports), is ErrNoRecord.
func LookupRecord(ctx context.Context, res Resolver, domain string) (Record, error) {
	txts, err := res.LookupTXT(ctx, "_smtp._tls."+domain)
	if dns.IsNotFound(err) {
		return Record{}, ErrNoRecord
	}
	if err != nil {
		return Record{}, err
	}
	var found []Record
	var bad error
	for _, t := range txts {
		r, rpt, err := ParseRecord(t)
		if !rpt {
			continue
		}
		if err != nil {
			bad = err
		}
		found = append(found, r)
	}
	if len(found) != 1 {
		return Record{}, ErrNoRecord
	}
	if bad != nil {
		return Record{}, bad
	}
	return found[0], nil
}

// mailtoAddress is the address of a mailto: URI (RFC 6068), without any
// query ("?subject=…").
func mailtoAddress(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "mailto:")
	if !ok {
		if len(uri) < 7 || !strings.EqualFold(uri[:7], "mailto:") {
			return "", fmt.Errorf("%q is not a mailto: URI", uri)
		}
		rest = uri[7:]
	}
	rest, _, _ = strings.Cut(rest, "?")
	addr, err := url.PathUnescape(rest)
	if err != nil {
		return "", err
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " <>,\r\n") {
		return "", fmt.Errorf("%q is not an address", addr)
	}
	return addr, nil
}
