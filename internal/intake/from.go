package intake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"

	"golang.org/x/net/idna"

	"sendpool/internal/account"
	"sendpool/internal/domain"
)

// maxReceived is the most Received: fields a message may arrive with
// (ours comes on top) before it is taken for a loop (RFC 5321 §6.3;
// Postfix's hopcount_limit is the same 50).
const maxReceived = 50

// DKIMResult is one DKIM signature of a message as the From: rule needs
// it: the signing domain (d=) and whether it verified.
type DKIMResult struct {
	Domain string
	Pass   bool
	// Temporary: the key could not be fetched now (DNS); another try may
	// pass.
	Temporary bool
}

// VerifyFunc verifies a message's DKIM signatures (RFC 6376), fetching
// keys through the node's caching resolver.
type VerifyFunc func(ctx context.Context, msg []byte) ([]DKIMResult, error)

// header is what the checks read of a message's header section.
type header struct {
	from     []string // the values of its From: fields, unfolded
	received int      // how many Received: fields
	// messageID is the first Message-ID: field's value (RFC 5322 §3.6.4),
	// unfolded and trimmed: the delivery log finds a message by it.
	messageID string
}

// readHeader reads msg's header section (up to the first empty line) and
// never the body.
func readHeader(msg []byte) header {
	var h header
	name := ""
	for pos := 0; pos < len(msg); {
		end := bytes.IndexByte(msg[pos:], '\n')
		next := len(msg)
		if end >= 0 {
			next = pos + end + 1
		}
		line := bytes.TrimRight(msg[pos:next], "\r\n")
		pos = next
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 5322 §2.2.3: a continuation of the field before.
			switch name {
			case "from":
				h.from[len(h.from)-1] += string(line)
			case "message-id":
				h.messageID += strings.TrimSpace(string(line))
			}
			continue
		}
		n, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			name = ""
			continue
		}
		name = strings.ToLower(string(bytes.TrimSpace(n)))
		switch name {
		case "from":
			h.from = append(h.from, string(v))
		case "received":
			h.received++
		case "message-id":
			if h.messageID != "" {
				name = "" // only the first
				continue
			}
			h.messageID = strings.TrimSpace(string(v))
		}
	}
	return h
}

// newAddressParser parses From: address lists. Display names in a charset
// Go does not know are kept undecoded rather than failing the parse: only
// the addresses matter here.
func newAddressParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
}

// fromDomains returns the domains of the mailboxes of a From: field value
// (RFC 5322 §3.6.2: one or more), lower case, IDNs as A-labels.
func fromDomains(value string) ([]string, error) {
	addrs, err := newAddressParser().ParseList(value)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("From: %q does not parse as an address list", strings.TrimSpace(value))
	}
	var out []string
	for _, a := range addrs {
		at := strings.LastIndexByte(a.Address, '@')
		if at < 0 {
			return nil, fmt.Errorf("From: address %q has no domain", a.Address)
		}
		d := strings.ToLower(strings.TrimSuffix(a.Address[at+1:], "."))
		if ascii, err := idna.Lookup.ToASCII(d); err == nil {
			d = ascii
		}
		out = append(out, d)
	}
	return out, nil
}

// CheckHeader applies SPEC §3's header rules to a message of account a:
// no more than maxReceived Received: fields (a loop), and exactly one
// From: field whose every domain the account may use (MayUseFrom), or
// else is vouched for by a DKIM signature that verifies here, with d= in
// relaxed alignment with it (RFC 7489 §3.1.1): an authentic forward of
// mail the hosting server received, which nobody else could have signed.
//
// It reads only the header section; the signature is verified only when a
// foreign domain needs it.
func (s *Service) CheckHeader(ctx context.Context, a *account.Account, msg []byte) error {
	return s.checkHeader(ctx, a, msg, func() ([]byte, error) { return msg, nil })
}

// checkHeader is CheckHeader of the message whose header section is
// header, and which whole returns entire for the DKIM verification: a
// spooled message is read into memory only for that rare case (a large
// forward under a foreign From:).
func (s *Service) checkHeader(ctx context.Context, a *account.Account, header []byte, whole func() ([]byte, error)) error {
	h := readHeader(header)
	// Accept put ours on top: the client's are the others.
	if h.received-1 > maxReceived {
		return Loop(fmt.Sprintf("%d Received: fields", h.received))
	}
	switch len(h.from) {
	case 0:
		return FromRefused("Message has no From: header field; exactly one is required", "no From:")
	case 1:
	default:
		return FromRefused(fmt.Sprintf("Message has %d From: header fields; exactly one is allowed", len(h.from)),
			fmt.Sprintf("%d From: fields", len(h.from)))
	}
	domains, err := fromDomains(h.from[0])
	if err != nil {
		return FromRefused("From: header field does not parse as an address", err.Error())
	}
	var foreign []string
	for _, d := range domains {
		if !a.MayUseFrom(d) && !slices.Contains(foreign, d) {
			foreign = append(foreign, d)
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	var sigs []DKIMResult
	if s.cfg.VerifyDKIM != nil {
		msg, err := whole()
		if err != nil {
			return LocalError("spool", err.Error())
		}
		if sigs, err = s.cfg.VerifyDKIM(ctx, msg); err != nil {
			// A message whose signatures cannot be parsed at all carries
			// no proof.
			s.log.DebugContext(ctx, "intake: DKIM verification", "account", a.Name, "err", err)
			sigs = nil
		}
	}
	for _, d := range foreign {
		switch vouched(sigs, d) {
		case vouchTemporary:
			return FromUnverified(fmt.Sprintf("From: domain %s: its DKIM signature could not be checked now, try again later", d),
				"DKIM key lookup failed for "+d)
		case vouchNone:
			return FromRefused(fmt.Sprintf("From: domain %s is not one of this account's domains, and no valid DKIM signature of %s is present", d, d),
				fmt.Sprintf("From: %s not the account's, no aligned DKIM signature (%d signatures)", d, len(sigs)))
		}
	}
	return nil
}

type vouch int

const (
	vouchNone vouch = iota
	vouchPass
	vouchTemporary
)

// vouched says whether a verified signature aligns with from (relaxed),
// or whether one that might has yet to be checked.
func vouched(sigs []DKIMResult, from string) vouch {
	v := vouchNone
	for _, sig := range sigs {
		if !domain.AlignedRelaxed(sig.Domain, from) {
			continue
		}
		if sig.Pass {
			return vouchPass
		}
		if sig.Temporary {
			v = vouchTemporary
		}
	}
	return v
}
