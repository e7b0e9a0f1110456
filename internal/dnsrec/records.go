// Package dnsrec is what a customer's domain must publish in DNS for mail
// sendpool sends to be authenticated (SPF, DKIM, DMARC, the return path),
// the checker that looks those records up and says what is ok, missing or
// wrong, and the inbound-side evaluation of SPF and DMARC.
package dnsrec

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"sendpool/internal/dkim"
	"sendpool/internal/domain"
)

// Record purposes: stable words a program can switch on.
const (
	PurposeSPF         = "spf"          // the domain's SPF record
	PurposeSPFService  = "spf-service"  // sendpool's own SPF record, once for all domains
	PurposeDKIM        = "dkim"         // an active key's record
	PurposeDKIMPending = "dkim-pending" // a rotated key: publish it, then signing switches
	PurposeDKIMRetired = "dkim-retired" // an old key: keep it until Note's date
	PurposeDMARC       = "dmarc"
	PurposeReturnPath  = "return-path"
)

// SPF modes (dkim.spf_mode).
const (
	SPFInclude = "include" // the domain includes the service's SPF host
	SPFIP      = "ip"      // the domain lists the pool's addresses itself
)

// maxSPFLength bounds one SPF record: RFC 7208 §3.4 advises keeping
// answers under 512 bytes, which leaves about 450 for the record.
const maxSPFLength = 450

// maxLookups is RFC 7208 §4.6.4's limit on DNS-querying terms.
const maxLookups = 10

// Record is one DNS record to publish.
type Record struct {
	Type    string `json:"type"`  // "TXT" or "CNAME"
	Name    string `json:"name"`  // owner name, without the final dot
	Value   string `json:"value"` // whole; Zone splits TXT values into strings
	Purpose string `json:"purpose"`
	Note    string `json:"note,omitempty"` // for the person publishing it
	// Published: sendpool published it itself (internal/dnspub), in the
	// zone Publisher names; false where the domain's owner publishes it.
	Published bool   `json:"published"`
	Publisher string `json:"publisher,omitempty"`
}

// PoolIP is one sending address with its EHLO name.
type PoolIP struct {
	Addr netip.Addr
	EHLO string
}

// Config says what the records are made of.
type Config struct {
	SPFHost string // the service's SPF host, e.g. "_spf.mta.example.net"
	SPFMode string // SPFInclude (default) or SPFIP
	Pool    []PoolIP
	// DMARCPolicy is the p= of the suggested DMARC record; default "none".
	DMARCPolicy string
	// DMARCRUA is the rua= of the suggested DMARC record, "{domain}"
	// replaced by the domain; "" leaves rua out.
	DMARCRUA string
	// ReturnPathHost, when set, is the host bounces return to: each domain
	// gets a CNAME bounces.<domain> → it, for SPF alignment.
	ReturnPathHost string
	RetireAfter    time.Duration // how long retired keys stay published
}

// ReturnPathLabel is the name under each domain that points to the
// return-path host.
const ReturnPathLabel = "bounces"

// Records returns every record domain d should publish at now.
func (c *Config) Records(d *domain.Domain, now time.Time) []Record {
	out := []Record{c.SPFRecord(d.Name)}
	if c.spfMode() == SPFInclude {
		out = append(out, c.ServiceRecords()...)
	}
	for _, k := range d.Keys {
		r := Record{Type: "TXT", Name: dkim.RecordName(k.Selector, d.Name), Value: dkim.RecordValue(k)}
		switch {
		case k.State == domain.Active:
			r.Purpose = PurposeDKIM
			r.Note = fmt.Sprintf("DKIM key (%s) mail is signed with", k.Algorithm)
		case k.State == domain.Pending:
			r.Purpose = PurposeDKIMPending
			r.Note = fmt.Sprintf("new DKIM key (%s): signing switches to it once this record is seen in DNS", k.Algorithm)
		case k.Removable(now, c.RetireAfter):
			continue
		default:
			r.Purpose = PurposeDKIMRetired
			r.Note = fmt.Sprintf("retired DKIM key (%s): keep it until %s, mail signed with it may still be in transit",
				k.Algorithm, k.RemovableAt(c.RetireAfter).UTC().Format(time.RFC3339))
		}
		out = append(out, r)
	}
	out = append(out, Record{Type: "TXT", Name: "_dmarc." + d.Name, Value: c.DMARCValue(d.Name), Purpose: PurposeDMARC,
		Note: "DMARC policy: p=none reports without affecting delivery; tighten it once the reports are clean"})
	if c.ReturnPathHost != "" {
		out = append(out, Record{Type: "CNAME", Name: ReturnPathLabel + "." + d.Name, Value: c.ReturnPathHost,
			Purpose: PurposeReturnPath, Note: "bounces come back to sendpool under the domain's own name (SPF alignment)"})
	}
	return out
}

// SPFRecord is the record the domain publishes at its apex.
func (c *Config) SPFRecord(name string) Record {
	r := Record{Type: "TXT", Name: name, Purpose: PurposeSPF,
		Note: "SPF: authorises sendpool's sending IPs; merge into any SPF record already there (one per domain)"}
	if c.spfMode() == SPFIP {
		r.Value = "v=spf1 " + strings.Join(c.ipTerms(), " ") + " ~all"
	} else {
		r.Value = "v=spf1 include:" + c.SPFHost + " ~all"
	}
	r.Value = strings.Join(strings.Fields(r.Value), " ") // no double space with an empty pool
	return r
}

// ServiceRecords is sendpool's own SPF record at SPFHost listing every pool
// address, published once by the operator. A pool too large for one record
// is chained through includes (s2.<host>, s3.<host>, …), each costing one
// of the ten lookups (RFC 7208 §4.6.4).
func (c *Config) ServiceRecords() []Record {
	terms := c.ipTerms()
	var chunks [][]string
	budget := maxSPFLength - len("v=spf1  include:s99. -all") - len(c.SPFHost)
	cur, size := []string{}, 0
	for _, t := range terms {
		if size+len(t)+1 > budget && len(cur) > 0 {
			chunks, cur, size = append(chunks, cur), nil, 0
		}
		cur, size = append(cur, t), size+len(t)+1
	}
	chunks = append(chunks, cur)
	var out []Record
	for i, ch := range chunks {
		v := "v=spf1"
		if len(ch) > 0 {
			v += " " + strings.Join(ch, " ")
		}
		if i+1 < len(chunks) {
			v += " include:" + c.chunkName(i+1)
		}
		out = append(out, Record{Type: "TXT", Name: c.chunkName(i), Value: v + " -all", Purpose: PurposeSPFService,
			Note: "sendpool's own SPF record (once, in the operator's zone, not per domain)"})
	}
	return out
}

func (c *Config) chunkName(i int) string {
	if i == 0 {
		return c.SPFHost
	}
	return fmt.Sprintf("s%d.%s", i+1, c.SPFHost)
}

// ipTerms are the ip4:/ip6: mechanisms of the pool (RFC 7208 §5.6).
func (c *Config) ipTerms() []string {
	var terms []string
	seen := map[netip.Addr]bool{}
	for _, ip := range c.Pool {
		a := ip.Addr.Unmap()
		if !a.IsValid() || a.IsUnspecified() || seen[a] {
			continue
		}
		seen[a] = true
		if a.Is4() {
			terms = append(terms, "ip4:"+a.String())
		} else {
			terms = append(terms, "ip6:"+a.String())
		}
	}
	return terms
}

func (c *Config) spfMode() string {
	if c.SPFMode == SPFIP {
		return SPFIP
	}
	return SPFInclude
}

// DMARCValue is the suggested DMARC record (RFC 7489 §6.3).
func (c *Config) DMARCValue(name string) string {
	v := "v=DMARC1; p=" + c.dmarcPolicy()
	if c.DMARCRUA != "" {
		v += "; rua=" + strings.ReplaceAll(c.DMARCRUA, "{domain}", name)
	}
	return v
}

// dmarcPolicy is the p= suggested and expected, "none" unless configured.
func (c *Config) dmarcPolicy() string {
	if c.DMARCPolicy == "" {
		return "none"
	}
	return c.DMARCPolicy
}
