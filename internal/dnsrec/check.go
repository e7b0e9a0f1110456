package dnsrec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"

	"sendpool/internal/dkim"
	"sendpool/internal/dns"
	"sendpool/internal/domain"
)

// Status of one checked record.
type Status string

// Statuses (SPEC §5).
const (
	OK      Status = "ok"
	Missing Status = "missing" // nothing there, or DNS could not say
	Wrong   Status = "wrong"   // there, but not what works
)

// Result is what was found for one record and what was expected.
type Result struct {
	Status   Status   `json:"status"`
	Found    []string `json:"found"`
	Expected []string `json:"expected"`
	Detail   string   `json:"detail,omitempty"`
}

// SelectorResult is one DKIM key's record.
type SelectorResult struct {
	Selector  string           `json:"selector"`
	Algorithm domain.Algorithm `json:"algorithm"`
	State     domain.KeyState  `json:"state"`
	Name      string           `json:"name"`
	Result
}

// DKIMResult sums up the active and pending keys' records: wrong if one is
// wrong, else missing if one is missing.
type DKIMResult struct {
	Result
	Selectors []SelectorResult `json:"selectors"`
}

// IPResult is the infrastructure check of one pool address: its EHLO name
// resolves to it (forward) and its PTR names the EHLO name (FCrDNS, which
// many receivers require).
type IPResult struct {
	Address string `json:"address"`
	EHLO    string `json:"ehlo"`
	Forward Result `json:"forward"`
	PTR     Result `json:"ptr"`
}

// Report is a domain's check.
type Report struct {
	Domain  string    `json:"domain"`
	Checked time.Time `json:"checked"`
	// OK: spf, dkim and dmarc all ok, and the return path not wrong. A
	// missing return-path CNAME does not count: sendpool does not rewrite
	// the envelope sender to bounces.<domain> yet, so the CNAME changes
	// neither delivery nor SPF alignment today. A wrong one does: it is a
	// mistake in the zone, and would send bounces elsewhere once rewriting
	// starts. `sendpool domain check` exits 1 when OK is false.
	OK    bool       `json:"ok"`
	SPF   Result     `json:"spf"`
	DKIM  DKIMResult `json:"dkim"`
	DMARC Result     `json:"dmarc"`
	// ReturnPath is the bounces.<domain> CNAME, checked only when
	// Config.ReturnPathHost is set (nil, and absent from JSON, otherwise).
	ReturnPath *Result    `json:"return_path,omitempty"`
	Pool       []IPResult `json:"pool"`
}

// Checker looks a domain's records up and compares them with Config's.
// Give it a Resolver that does not cache, so that a record just published
// is seen at once.
type Checker struct {
	Resolver dns.Resolver // PTRResolver too, for the PTR check
	Config   *Config
}

// Check checks d's records at now.
func (c *Checker) Check(ctx context.Context, d *domain.Domain, now time.Time) *Report {
	r := &Report{Domain: d.Name, Checked: now}
	r.SPF = c.checkSPF(ctx, d.Name)
	r.DKIM = c.checkDKIM(ctx, d)
	r.DMARC = c.checkDMARC(ctx, d.Name)
	if c.Config.ReturnPathHost != "" {
		rp := c.checkReturnPath(ctx, d.Name)
		r.ReturnPath = &rp
	}
	r.Pool = c.CheckPool(ctx)
	r.OK = r.SPF.Status == OK && r.DKIM.Status == OK && r.DMARC.Status == OK &&
		(r.ReturnPath == nil || r.ReturnPath.Status != Wrong)
	return r
}

// lookupTXT returns the TXT records at name, or a Missing result saying why
// there are none.
func (c *Checker) lookupTXT(ctx context.Context, name string) ([]string, *Result) {
	txts, err := c.Resolver.LookupTXT(ctx, name)
	switch {
	case dns.IsNotFound(err):
		return nil, &Result{Status: Missing, Found: []string{}, Detail: "no TXT record at " + name}
	case err != nil:
		return nil, &Result{Status: Missing, Found: []string{}, Detail: "lookup failed: " + err.Error()}
	}
	return txts, nil
}

// checkSPF: exactly one SPF record (RFC 7208 §4.5), and evaluating it as
// a receiver would, following includes within the lookup limit, gives
// pass for every pool address.
func (c *Checker) checkSPF(ctx context.Context, name string) Result {
	expected := []string{c.Config.SPFRecord(name).Value}
	txts, miss := c.lookupTXT(ctx, name)
	if miss != nil {
		miss.Expected = expected
		return *miss
	}
	found := spfRecords(txts)
	res := Result{Status: OK, Found: found, Expected: expected}
	switch len(found) {
	case 0:
		res.Status, res.Found, res.Detail = Missing, []string{}, "no v=spf1 record among the TXT records of "+name
		return res
	case 1:
	default:
		res.Status = Wrong
		res.Detail = fmt.Sprintf("%d SPF records: receivers treat more than one as an error (RFC 7208 §4.5); merge them", len(found))
		return res
	}
	var bad []string
	for _, ip := range c.Config.Pool {
		if !ip.Addr.IsValid() || ip.Addr.IsUnspecified() {
			continue
		}
		got, err := CheckSPF(ctx, c.Resolver, ip.Addr, ip.EHLO, "postmaster@"+name)
		if got == spf.Pass {
			continue
		}
		why := string(got)
		switch {
		case errors.Is(err, spf.ErrLookupLimitReached):
			why = "over 10 DNS lookups (RFC 7208 §4.6.4)"
		case err != nil && got != spf.Fail && got != spf.SoftFail:
			why += ": " + err.Error()
		}
		bad = append(bad, ip.Addr.String()+" ("+why+")")
	}
	if len(bad) > 0 {
		res.Status = Wrong
		res.Detail = "not authorised: " + strings.Join(bad, ", ")
	}
	return res
}

// checkDKIM: the record of each active and pending key holds our public
// key (RFC 6376 §3.6.1).
func (c *Checker) checkDKIM(ctx context.Context, d *domain.Domain) DKIMResult {
	out := DKIMResult{Result: Result{Status: OK, Found: []string{}, Expected: []string{}}, Selectors: []SelectorResult{}}
	var problems []string
	for _, k := range d.Keys {
		if k.State != domain.Active && k.State != domain.Pending {
			continue
		}
		name := dkim.RecordName(k.Selector, d.Name)
		sr := SelectorResult{Selector: k.Selector, Algorithm: k.Algorithm, State: k.State, Name: name,
			Result: Result{Status: OK, Expected: []string{dkim.RecordValue(k)}}}
		txts, miss := c.lookupTXT(ctx, name)
		switch {
		case miss != nil:
			miss.Expected = sr.Expected
			sr.Result = *miss
		case len(txts) != 1:
			// RFC 6376 §3.6.2.2: several records at a selector give
			// undefined results.
			sr.Status, sr.Found, sr.Detail = Wrong, txts, fmt.Sprintf("%d TXT records at %s, want one", len(txts), name)
		default:
			sr.Found = txts
			if rec, err := dkim.ParseRecord(txts[0]); err != nil {
				sr.Status, sr.Detail = Wrong, err.Error()
			} else if rec.Algorithm != k.Algorithm || rec.PublicKey != k.PublicKey {
				sr.Status, sr.Detail = Wrong, "the record holds another key than sendpool signs with"
			}
		}
		for _, f := range sr.Found {
			out.Found = append(out.Found, k.Selector+": "+f)
		}
		out.Expected = append(out.Expected, k.Selector+": "+sr.Expected[0])
		if sr.Status != OK {
			problems = append(problems, k.Selector+" "+string(sr.Status))
			if sr.Status == Wrong || out.Status == OK {
				out.Status = sr.Status
			}
		}
		out.Selectors = append(out.Selectors, sr)
	}
	if len(out.Selectors) == 0 {
		out.Status, out.Detail = Missing, "the domain has no key"
	}
	if len(problems) > 0 {
		out.Detail = strings.Join(problems, ", ")
	}
	return out
}

// checkDMARC: one DMARC record at _dmarc.<domain> that parses
// (RFC 7489 §6.6.3: several records is as good as none) and applies at
// least the configured policy to all failing mail (dmarcShortfall).
func (c *Checker) checkDMARC(ctx context.Context, name string) Result {
	at := "_dmarc." + name
	expected := []string{c.Config.DMARCValue(name)}
	txts, miss := c.lookupTXT(ctx, at)
	if miss != nil {
		miss.Expected = expected
		return *miss
	}
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(strings.ToLower(t), "v=dmarc1") {
			found = append(found, t)
		}
	}
	res := Result{Status: OK, Found: found, Expected: expected}
	switch len(found) {
	case 0:
		res.Status, res.Found, res.Detail = Missing, []string{}, "no v=DMARC1 record at "+at
	case 1:
		rec, err := dmarc.Parse(found[0])
		if err != nil {
			res.Status, res.Detail = Wrong, err.Error()
		} else if why := dmarcShortfall(rec, dmarc.Policy(c.Config.dmarcPolicy())); why != "" {
			res.Status, res.Detail = Wrong, why
		} else {
			res.Detail = subdomainNote(rec, name)
		}
	default:
		res.Status, res.Detail = Wrong, fmt.Sprintf("%d DMARC records: receivers ignore them all", len(found))
	}
	return res
}

// CheckPool checks each pool address: its EHLO name resolves to it, and
// its PTR names the EHLO name where the resolver can look PTRs up.
func (c *Checker) CheckPool(ctx context.Context) []IPResult {
	out := []IPResult{}
	for _, ip := range c.Config.Pool {
		if !ip.Addr.IsValid() || ip.Addr.IsUnspecified() {
			continue
		}
		a := ip.Addr.Unmap()
		r := IPResult{Address: a.String(), EHLO: ip.EHLO}
		r.Forward = Result{Status: OK, Found: []string{}, Expected: []string{a.String()}}
		addrs, err := c.Resolver.LookupIP(ctx, ip.EHLO)
		for _, x := range addrs {
			r.Forward.Found = append(r.Forward.Found, x.String())
		}
		switch {
		case err != nil:
			r.Forward.Status, r.Forward.Detail = Missing, err.Error()
		case !slices.Contains(addrs, a):
			r.Forward.Status, r.Forward.Detail = Wrong, ip.EHLO+" does not resolve to "+a.String()
		}
		r.PTR = c.checkPTR(ctx, a, ip.EHLO)
		out = append(out, r)
	}
	return out
}

func (c *Checker) checkPTR(ctx context.Context, a netip.Addr, ehlo string) Result {
	res := Result{Status: OK, Found: []string{}, Expected: []string{ehlo}}
	p, ok := c.Resolver.(PTRResolver)
	if !ok {
		res.Status, res.Detail = Missing, "the resolver cannot look PTR records up"
		return res
	}
	names, err := p.LookupPTR(ctx, a)
	res.Found = append(res.Found, names...)
	switch {
	case err != nil:
		res.Status, res.Detail = Missing, err.Error()
	case !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, ehlo) }):
		res.Status, res.Detail = Wrong, "the PTR of "+a.String()+" does not name "+ehlo
	}
	return res
}
