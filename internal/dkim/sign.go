package dkim

import (
	"bytes"
	"crypto"
	"fmt"
	"net/mail"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// SignedHeaders are the fields signed when present (RFC 6376 §5.4.1 lists
// the ones that matter to a reader): the originator and recipients, the
// subject and date, the identifiers, the MIME structure, and the one-click
// unsubscribe fields (RFC 8058 §4 requires them signed).
var SignedHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Unsubscribe", "List-Unsubscribe-Post",
}

// headerKeys is the h= list for msg: each field of SignedHeaders as many
// times as it occurs, and From once more. The extra From signs its absence
// (RFC 6376 §8.15): a From field added above ours, which some readers would
// show, breaks the signature.
func headerKeys(fields []field) []string {
	count := map[string]int{}
	for _, f := range fields {
		count[strings.ToLower(f.name)]++
	}
	var keys []string
	for _, h := range SignedHeaders {
		n := count[strings.ToLower(h)]
		if h == "From" {
			n++
		}
		for range n {
			keys = append(keys, h)
		}
	}
	return keys
}

// SigningKey is one key to sign with.
type SigningKey struct {
	Selector string
	Signer   crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// Sign returns msg (CRLF line endings) with one DKIM-Signature per key
// prepended, in the order of keys, for domain d: relaxed/relaxed
// canonicalisation (which survives the rewrapping and whitespace changes
// relays make, RFC 6376 §3.4), SHA-256.
func Sign(msg []byte, d string, keys []SigningKey) ([]byte, error) {
	fields, _ := splitHeader(msg)
	hk := headerKeys(fields)
	var sigs strings.Builder
	for _, k := range keys {
		s, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain:                 d,
			Selector:               k.Selector,
			Signer:                 k.Signer,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             hk,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Selector, err)
		}
		if _, err := s.Write(msg); err != nil {
			s.Close()
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Selector, err)
		}
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Selector, err)
		}
		sigs.WriteString(s.Signature())
	}
	out := make([]byte, 0, sigs.Len()+len(msg))
	out = append(out, sigs.String()...)
	return append(out, msg...), nil
}

// field is one header field: its name and its raw value (folding kept).
type field struct {
	name, value string
}

// splitHeader returns msg's header fields and where its body starts.
// A header with no blank line after it is all header.
func splitHeader(msg []byte) ([]field, int) {
	var fields []field
	pos := 0
	for pos < len(msg) {
		end := bytes.IndexByte(msg[pos:], '\n')
		line := msg[pos:]
		next := len(msg)
		if end >= 0 {
			line, next = msg[pos:pos+end+1], pos+end+1
		}
		trimmed := strings.TrimRight(string(line), "\r\n")
		if trimmed == "" {
			return fields, next
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].value += "\r\n" + trimmed // continuation (RFC 5322 §2.2.3)
		} else if name, value, ok := strings.Cut(trimmed, ":"); ok {
			fields = append(fields, field{name: strings.TrimSpace(name), value: value})
		}
		pos = next
	}
	return fields, len(msg)
}

// FromDomain returns the lower-cased domain of the first address of msg's
// From field (RFC 5322 §3.6.2), or "" if there is none that parses.
func FromDomain(msg []byte) string {
	fields, _ := splitHeader(msg)
	for _, f := range fields {
		if !strings.EqualFold(f.name, "From") {
			continue
		}
		value := strings.NewReplacer("\r\n", "", "\n", "").Replace(f.value)
		addrs, err := mail.ParseAddressList(value)
		var addr string
		if err == nil && len(addrs) > 0 {
			addr = addrs[0].Address
		} else if i, j := strings.LastIndexByte(value, '<'), strings.LastIndexByte(value, '>'); i >= 0 && j > i {
			addr = value[i+1 : j] // a display name net/mail refuses; the address is plain
		} else {
			addr = strings.TrimSpace(value)
		}
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return ""
		}
		return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(addr[at+1:]), "."))
	}
	return ""
}
