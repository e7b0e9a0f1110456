package dns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	// ednsBufferSize is the UDP payload size advertised in EDNS0 (RFC 6891):
	// 1232 bytes avoids IP fragmentation on any path (DNS Flag Day 2020).
	ednsBufferSize = 1232
	// maxCNAMEChain bounds how many aliases a lookup follows.
	maxCNAMEChain = 8
)

// records returns the records of type qtype at fqdn, following CNAMEs. No
// record and no error means NODATA. NXDOMAIN is a permanent *Error with
// NotFound set; name is what the caller asked, for error messages.
func (c *Client) records(ctx context.Context, name, fqdn string, qtype uint16) ([]mdns.RR, error) {
	rrs, _, err := c.recordsAD(ctx, name, fqdn, qtype)
	return rrs, err
}

// recordsAD is records, also saying whether every answer on the way had
// the AD bit set (RFC 4035 §3.2.3): what a validating resolver found
// secure. Only a Client with Options.DNSSEC asks for it.
func (c *Client) recordsAD(ctx context.Context, name, fqdn string, qtype uint16) ([]mdns.RR, bool, error) {
	secure := c.dnssec
	for range maxCNAMEChain {
		msg, err := c.query(ctx, name, fqdn, qtype)
		if err != nil {
			return nil, false, err
		}
		secure = secure && msg.AuthenticatedData
		rrs, last := fromAnswer(msg.Answer, fqdn, qtype)
		switch {
		case len(rrs) > 0:
			return rrs, secure, nil
		case msg.Rcode == mdns.RcodeNameError:
			// The rcode speaks of the last name of a CNAME chain (RFC 6604).
			return nil, secure, &Error{Name: name, Permanent: true, NotFound: true, Msg: "no such domain"}
		case strings.EqualFold(last, fqdn) || hasSOA(msg.Ns):
			return nil, secure, nil // NODATA, for the last name of the chain
		}
		// An alias whose target the server did not resolve: ask for it.
		fqdn = last
	}
	return nil, false, &Error{Name: name, Msg: "CNAME chain too long"}
}

// fromAnswer follows the CNAME chain from name through an answer section
// and returns the records of type qtype at its end, and that end's name.
func fromAnswer(answer []mdns.RR, name string, qtype uint16) ([]mdns.RR, string) {
	for range maxCNAMEChain {
		var rrs []mdns.RR
		next := ""
		for _, rr := range answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				rrs = append(rrs, rr)
			case h.Rrtype == mdns.TypeCNAME:
				next = rr.(*mdns.CNAME).Target
			}
		}
		if len(rrs) > 0 || next == "" {
			return rrs, name
		}
		name = next
	}
	return nil, name
}

func hasSOA(rrs []mdns.RR) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeSOA {
			return true
		}
	}
	return false
}

// query answers one question from the cache or the servers. The answer's
// rcode is NOERROR or NXDOMAIN; anything else is a temporary *Error.
func (c *Client) query(ctx context.Context, name, fqdn string, qtype uint16) (*mdns.Msg, error) {
	key := c.keyPrefix + cacheKey(strings.ToLower(fqdn), qtype)
	if v, ok := c.cache.Get(key); ok {
		if msg, ok := decodeAnswer(v, c.now()); ok {
			return msg, nil
		}
	}
	msg, err := c.exchange(ctx, fqdn, qtype)
	if err != nil {
		return nil, &Error{Name: name, Msg: err.Error()}
	}
	if ttl := c.cacheTTL(msg, qtype); ttl > 0 {
		if v, err := encodeAnswer(c.now().Add(ttl), msg); err == nil {
			c.cache.Set(key, v, ttl)
		}
	}
	return msg, nil
}

// cacheTTL is how long an answer may be kept: the smallest TTL in its
// answer section, at most MaxTTL. A negative answer (NXDOMAIN, NODATA) is
// kept NegativeTTL, less if the SOA's TTL or MINIMUM say so (RFC 2308 §5).
func (c *Client) cacheTTL(msg *mdns.Msg, qtype uint16) time.Duration {
	ttl := c.maxTTL
	positive := false
	for _, rr := range msg.Answer {
		ttl = min(ttl, seconds(rr.Header().Ttl))
		positive = positive || rr.Header().Rrtype == qtype
	}
	if positive && msg.Rcode == mdns.RcodeSuccess {
		return ttl
	}
	ttl = min(ttl, c.negTTL)
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			ttl = min(ttl, seconds(soa.Hdr.Ttl), seconds(soa.Minttl))
		}
	}
	return ttl
}

func seconds(ttl uint32) time.Duration { return time.Duration(ttl) * time.Second }

// exchange asks the servers in order until one gives an answer (NOERROR or
// NXDOMAIN). A timeout, a network error, SERVFAIL or REFUSED moves on to
// the next server.
func (c *Client) exchange(ctx context.Context, fqdn string, qtype uint16) (*mdns.Msg, error) {
	q := new(mdns.Msg)
	q.SetQuestion(fqdn, qtype)
	// RFC 4035 §3.2.1: DO asks a validating resolver for DNSSEC; RFC 6840
	// §5.7: AD in the query asks for the AD bit in the answer.
	q.SetEdns0(ednsBufferSize, c.dnssec)
	q.AuthenticatedData = c.dnssec
	var errs []error
	for _, server := range c.servers {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		r, err := c.exchangeOne(ctx, q, server)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
			continue
		}
		if r.Rcode != mdns.RcodeSuccess && r.Rcode != mdns.RcodeNameError {
			errs = append(errs, fmt.Errorf("%s: %s", server, mdns.RcodeToString[r.Rcode]))
			continue
		}
		return r, nil
	}
	return nil, errors.Join(errs...)
}

// exchangeOne asks one server over UDP and again over TCP if the answer was
// truncated (RFC 7766 §5).
func (c *Client) exchangeOne(ctx context.Context, q *mdns.Msg, server string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := c.roundTrip(ctx, "udp", q, server)
	if err == nil && r.Truncated {
		r, err = c.roundTrip(ctx, "tcp", q, server)
	}
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, q.Question[0].Name) ||
		r.Question[0].Qtype != q.Question[0].Qtype {
		return nil, errors.New("answer to another question")
	}
	return r, nil
}

func (c *Client) roundTrip(ctx context.Context, network string, q *mdns.Msg, server string) (*mdns.Msg, error) {
	cl := &mdns.Client{Net: network, UDPSize: ednsBufferSize, Timeout: c.timeout}
	conn, err := cl.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// miekg/dns honours the context's deadline only; closing the connection
	// makes a cancellation end the wait too.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, _, err := cl.ExchangeWithConnContext(ctx, q, conn)
	if err != nil && r != nil && r.Truncated && network == "udp" {
		return r, nil // cut short mid-record: only TC matters, TCP follows
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	return r, nil
}
