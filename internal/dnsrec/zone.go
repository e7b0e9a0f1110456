package dnsrec

import (
	"fmt"
	"strings"
)

// txtChunk is the longest character-string in a TXT record (RFC 1035
// §3.3.14); longer values are several strings of one record, which readers
// join (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
const txtChunk = 255

// ZoneTTL is the TTL of records in zone-file form.
const ZoneTTL = 3600

// Zone returns records in zone-file form (RFC 1035 §5.1), fully qualified,
// each preceded by a comment saying what it is for.
func Zone(records []Record) string {
	var b strings.Builder
	for _, r := range records {
		fmt.Fprintf(&b, "; %s", r.Purpose)
		if r.Note != "" {
			fmt.Fprintf(&b, ": %s", r.Note)
		}
		b.WriteString("\n")
		value := r.Value
		switch r.Type {
		case "TXT":
			value = strings.Join(QuoteTXT(r.Value), " ")
		case "CNAME":
			value = strings.TrimSuffix(value, ".") + "."
		}
		fmt.Fprintf(&b, "%s.\t%d\tIN\t%s\t%s\n", r.Name, ZoneTTL, r.Type, value)
	}
	return b.String()
}

// SplitTXT cuts a TXT value into character-strings of at most 255 bytes.
func SplitTXT(v string) []string {
	parts := []string{}
	for len(v) > txtChunk {
		parts, v = append(parts, v[:txtChunk]), v[txtChunk:]
	}
	return append(parts, v)
}

// QuoteTXT returns v's character-strings quoted for a zone file, '"' and
// '\' escaped.
func QuoteTXT(v string) []string {
	parts := SplitTXT(v)
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for i, p := range parts {
		parts[i] = `"` + esc.Replace(p) + `"`
	}
	return parts
}
