package dkim

import (
	"bytes"
	"context"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"sendpool/internal/dns"
)

// Result of one signature's verification (RFC 8601 §2.7.1 names).
type Result string

// Verification results.
const (
	Pass      Result = "pass"
	Fail      Result = "fail"      // the signature does not verify
	TempError Result = "temperror" // the key could not be fetched now
	PermError Result = "permerror" // a broken signature or key record
)

// maxVerifications bounds the work one message can ask for: beyond it,
// signatures are ignored (a message can carry hundreds to exhaust a
// verifier).
const maxVerifications = 8

// Verification is the outcome of one DKIM-Signature, in header order.
type Verification struct {
	Domain    string // d=
	Selector  string // s=
	Algorithm string // a=
	Result    Result
	Err       error // why, unless Pass
}

// Verify checks every DKIM signature of msg (at most maxVerifications),
// fetching keys through r. The inbound side feeds the results to DMARC.
func Verify(ctx context.Context, r TXTResolver, msg []byte) ([]Verification, error) {
	opts := &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			txts, err := r.LookupTXT(ctx, name)
			return txts, dns.NetError(err)
		},
		MaxVerifications: maxVerifications,
	}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), opts)
	if err != nil && err != msgdkim.ErrTooManySignatures {
		return nil, err
	}
	var tags []map[string]string
	fields, _ := splitHeader(msg)
	for _, f := range fields {
		if strings.EqualFold(f.name, "DKIM-Signature") {
			tags = append(tags, sigTags(f.value))
		}
	}
	out := make([]Verification, len(vs))
	for i, v := range vs {
		o := Verification{Domain: strings.ToLower(v.Domain), Err: v.Err, Result: Pass}
		if i < len(tags) {
			o.Selector, o.Algorithm = tags[i]["s"], tags[i]["a"]
		}
		switch {
		case v.Err == nil:
		case msgdkim.IsTempFail(v.Err):
			o.Result = TempError
		case msgdkim.IsPermFail(v.Err):
			o.Result = PermError
		default:
			o.Result = Fail
		}
		out[i] = o
	}
	return out, nil
}

// sigTags parses a DKIM-Signature's tag list loosely, for reporting.
func sigTags(value string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(value, ";") {
		if name, v, ok := strings.Cut(part, "="); ok {
			tags[strings.TrimSpace(name)] = strings.Join(strings.Fields(v), "")
		}
	}
	return tags
}
