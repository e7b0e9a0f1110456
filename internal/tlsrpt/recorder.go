package tlsrpt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Result is one session's outcome under a policy: a TLS session made (or
// refused, or failing a check), or an attempt the policy itself kept from
// being made (a policy that could not be fetched).
type Result struct {
	// Policy is the policy in force; its Domain, the recipient domain, is
	// who gets the report.
	Policy Policy
	// Failure is the result type (§4.3); empty for a success.
	Failure     string
	SendingIP   string
	MXHost      string
	ReceivingIP string
	// Reason is the error met, for failure-reason-code.
	Reason string
}

// maxDetails bounds the distinct failure details kept per policy and
// period: past it, details lose their reason and fold together.
const maxDetails = 100

// maxReason bounds a failure-reason-code.
const maxReason = 200

// bucket counts one policy's sessions in one period.
type bucket struct {
	policy Policy
	ok     int64
	fail   map[FailureDetail]int64 // FailedSessionCount zero in the keys
}

// counts are one node's sessions not yet added to the shared state, by
// period start and policy.
type counts map[time.Time]map[string]*bucket

// Record counts one session. It takes a lock and touches memory only:
// it is on the delivery path.
func (r *Reports) Record(res Result) {
	res.Policy.Domain = strings.ToLower(strings.TrimSuffix(res.Policy.Domain, "."))
	if res.Policy.Domain == "" {
		return
	}
	start := r.cfg.Now().UTC().Truncate(r.cfg.Period)
	key := policyKey(res.Policy)
	r.mu.Lock()
	defer r.mu.Unlock()
	byPolicy := r.pending[start]
	if byPolicy == nil {
		byPolicy = map[string]*bucket{}
		r.pending[start] = byPolicy
	}
	b := byPolicy[key]
	if b == nil {
		b = &bucket{policy: res.Policy, fail: map[FailureDetail]int64{}}
		byPolicy[key] = b
	}
	if res.Failure == "" {
		b.ok++
		return
	}
	d := FailureDetail{ResultType: res.Failure, SendingMTAIP: res.SendingIP, ReceivingMXHostname: res.MXHost,
		ReceivingIP: res.ReceivingIP, FailureReasonCode: trimReason(res.Reason)}
	if _, ok := b.fail[d]; !ok && len(b.fail) >= maxDetails {
		d.FailureReasonCode = ""
	}
	b.fail[d]++
}

func trimReason(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxReason {
		s = s[:maxReason]
	}
	return s
}

func policyKey(p Policy) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// Flush adds the sessions counted on this node to the shared state, one
// list entry per period, for the domains that ask for reports (their
// _smtp._tls record; the others' counts are dropped). What the state
// refuses is kept for the next flush.
func (r *Reports) Flush(ctx context.Context) error {
	r.mu.Lock()
	pending := r.pending
	r.pending = counts{}
	r.mu.Unlock()

	wanted := map[string]bool{}
	var errs []error
	for start, byPolicy := range pending {
		var entry []PolicyResult
		for _, b := range byPolicy {
			want, ok := wanted[b.policy.Domain]
			if !ok {
				_, err := LookupRecord(ctx, r.cfg.Resolver, b.policy.Domain)
				want = err == nil
				if err != nil && !errors.Is(err, ErrNoRecord) && !errors.Is(err, ErrSyntax) {
					// Not known now: counted again at the next flush.
					r.requeue(start, b)
					errs = append(errs, err)
					continue
				}
				wanted[b.policy.Domain] = want
			}
			if want {
				entry = append(entry, b.result())
			}
		}
		if len(entry) == 0 {
			continue
		}
		v, err := json.Marshal(entry)
		if err == nil {
			err = r.cfg.State.Record(ctx, listKey(start), maxEntries, r.retention(), v)
		}
		if err != nil {
			for _, b := range byPolicy {
				if wanted[b.policy.Domain] {
					r.requeue(start, b)
				}
			}
			errs = append(errs, fmt.Errorf("tlsrpt: adding counts to the state: %w", err))
		}
	}
	return errors.Join(errs...)
}

// requeue puts b's counts back for the next flush.
func (r *Reports) requeue(start time.Time, b *bucket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byPolicy := r.pending[start]
	if byPolicy == nil {
		byPolicy = map[string]*bucket{}
		r.pending[start] = byPolicy
	}
	key := policyKey(b.policy)
	have := byPolicy[key]
	if have == nil {
		byPolicy[key] = b
		return
	}
	have.ok += b.ok
	for d, n := range b.fail {
		have.fail[d] += n
	}
}

// result is b as a report's entry.
func (b *bucket) result() PolicyResult {
	p := PolicyResult{Policy: b.policy, Summary: Summary{Successful: b.ok}}
	for d, n := range b.fail {
		d.FailedSessionCount = n
		p.FailureDetails = append(p.FailureDetails, d)
		p.Summary.Failed += n
	}
	return p
}

// merge adds the entries of one list value to byDomain.
func merge(byDomain map[string]map[string]*PolicyResult, entry []PolicyResult) {
	for _, e := range entry {
		byPolicy := byDomain[e.Policy.Domain]
		if byPolicy == nil {
			byPolicy = map[string]*PolicyResult{}
			byDomain[e.Policy.Domain] = byPolicy
		}
		key := policyKey(e.Policy)
		have := byPolicy[key]
		if have == nil {
			have = &PolicyResult{Policy: e.Policy}
			byPolicy[key] = have
		}
		have.Summary.Successful += e.Summary.Successful
		have.Summary.Failed += e.Summary.Failed
	next:
		for _, d := range e.FailureDetails {
			for i := range have.FailureDetails {
				x := &have.FailureDetails[i]
				n := x.FailedSessionCount
				x.FailedSessionCount = d.FailedSessionCount
				same := *x == d
				x.FailedSessionCount = n
				if same {
					x.FailedSessionCount += d.FailedSessionCount
					continue next
				}
			}
			have.FailureDetails = append(have.FailureDetails, d)
		}
	}
}

// listKey is the state list of one period's counts.
func listKey(start time.Time) string { return "tlsrpt:" + strconv.FormatInt(start.Unix(), 10) }
