package mtasts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sendpool/internal/dns"
)

// Record is the TXT record at _mta-sts.DOMAIN (RFC 8461 §3.1).
type Record struct {
	// ID changes whenever the policy does: a sender that has the policy
	// of this id need not fetch it again.
	ID string
}

// Resolver is what looking the record up needs; *dns.Client implements
// it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// ErrNoRecord is a domain without an MTA-STS record: it has no policy,
// unless one is cached (§5.1).
var ErrNoRecord = errors.New("mtasts: no MTA-STS record")

// ParseRecord parses one TXT record. sts is false for a record that is not
// an MTA-STS record at all (it does not start with "v=STSv1"), which §3.1
// says to ignore; err is set for one that starts so but does not parse.
// Fields are "key=value" separated by ";" and optional spaces; id is
// 1*32(ALPHA / DIGIT); other fields are extensions, ignored.
func ParseRecord(txt string) (r Record, sts bool, err error) {
	fields := strings.Split(txt, ";")
	if strings.Trim(fields[0], " \t") != "v=STSv1" || !strings.HasPrefix(txt, "v=STSv1") {
		return Record{}, false, nil
	}
	seenID := false
	for i, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" && i == len(fields)-2 {
			break // a final ";" (§3.1's example ends in one)
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || !validKey(k) || v == "" || strings.ContainsAny(v, " \t=;") {
			return Record{}, true, fmt.Errorf("%w: record field %q", ErrSyntax, f)
		}
		if k != "id" || seenID {
			continue
		}
		if len(v) > 32 || !allAlnum(v) {
			return Record{}, true, fmt.Errorf("%w: record id %q, want 1 to 32 letters and digits", ErrSyntax, v)
		}
		r.ID, seenID = v, true
	}
	if !seenID {
		return Record{}, true, fmt.Errorf("%w: record has no id", ErrSyntax)
	}
	return r, true, nil
}

// LookupRecord finds domain's record. No MTA-STS record, or more than one
// (§3.1: then the domain has none), is ErrNoRecord; a record that does not
// parse is ErrSyntax; a DNS failure is returned as it came.
func LookupRecord(ctx context.Context, res Resolver, domain string) (Record, error) {
	txts, err := res.LookupTXT(ctx, "_mta-sts."+domain)
	if dns.IsNotFound(err) {
		return Record{}, ErrNoRecord
	}
	if err != nil {
		return Record{}, err
	}
	var found []Record
	for _, t := range txts {
		r, sts, err := ParseRecord(t)
		if !sts {
			continue
		}
		if err != nil {
			return Record{}, err
		}
		found = append(found, r)
	}
	if len(found) != 1 {
		return Record{}, ErrNoRecord
	}
	return found[0], nil
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !alnum(s[i]) {
			return false
		}
	}
	return s != ""
}
