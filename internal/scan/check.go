package scan

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"sendpool/internal/intake"
	"sendpool/internal/queue"
)

// Fail policies of a scanner that cannot answer (scan.fail).
const (
	FailTempfail = "tempfail" // 451 4.7.1: the client retries later
	FailAccept   = "accept"   // go on without that scanner's verdict
)

// CheckConfig configures Check.
type CheckConfig struct {
	Scanners    []Scanner
	RejectScore float64       // scan.spam_reject_score
	Fail        string        // FailTempfail (default) or FailAccept
	Timeout     time.Duration // per scanner; 0: 30s
	Logger      *slog.Logger  // nil: discard
}

// Check is the intake.Check that scans each message with every scanner at
// once and refuses spam and viruses.
type Check struct {
	cfg CheckConfig
	log *slog.Logger
}

var _ intake.Check = (*Check)(nil)

// NewCheck returns a Check.
func NewCheck(cfg CheckConfig) *Check {
	if cfg.Fail == "" {
		cfg.Fail = FailTempfail
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Check{cfg: cfg, log: cfg.Logger}
}

// Name implements intake.Check.
func (c *Check) Name() string { return "scan" }

// Check implements intake.Check. The rules that fired go to
// sub.Findings whatever the verdict, so the log and the API show them.
func (c *Check) Check(ctx context.Context, sub *intake.Submission) error {
	in := &Input{From: sub.From, To: sub.To, ClientIP: sub.ClientIP, Body: sub.Body, Spooled: spooledOf(sub)}
	if a := sub.Account; a != nil {
		in.Account, in.Domains = a.Name, a.Domains
	}
	each, errs := c.scanEach(ctx, in)
	res, failed := c.combine(each, errs)
	sub.Scans = verdicts(c.cfg.Scanners, each, errs)
	for _, h := range res.Rules {
		sub.Findings = append(sub.Findings, intake.Finding{Check: h.Scanner, Rule: h.Name, Score: h.Score, Detail: h.Detail})
	}
	detail := fmt.Sprintf("score %s/%s: %s", trimFloat(res.Score), trimFloat(c.cfg.RejectScore), res.RuleNames())
	if len(res.Rules) > 0 || res.Virus != "" {
		c.log.InfoContext(ctx, "scan", "id", sub.ID, "account", in.Account, "score", res.Score,
			"spam", res.Spam, "virus", res.Virus, "rules", res.RuleNames())
	}
	// A sure refusal wins over a scanner that could not answer: retrying
	// would only bring the same message back.
	switch {
	case res.Virus != "":
		return intake.Virus(c.Name(), "virus "+res.Virus+"; "+detail)
	case res.Spam:
		return intake.Spam(c.Name(), detail)
	}
	for name, err := range failed {
		c.log.WarnContext(ctx, "scanner unavailable", "scanner", name, "fail", c.cfg.Fail, "err", err)
		if c.cfg.Fail == FailTempfail {
			return intake.ScanUnavailable(c.Name(), fmt.Sprintf("%s: %v", name, err))
		}
		sub.Findings = append(sub.Findings, intake.Finding{Check: name, Rule: "SCANNER_UNAVAILABLE", Detail: err.Error()})
	}
	return nil
}

// Scan runs every scanner at once, each within the timeout, and combines
// the verdicts of those that answered; failed maps the others to their
// error.
func (c *Check) Scan(ctx context.Context, in *Input) (res Result, failed map[string]error) {
	return c.combine(c.scanEach(ctx, in))
}

// scanEach runs every scanner at once, each within the timeout, and
// returns each one's result or error, in the order of the scanners.
func (c *Check) scanEach(ctx context.Context, in *Input) ([]Result, []error) {
	results := make([]Result, len(c.cfg.Scanners))
	errs := make([]error, len(c.cfg.Scanners))
	var wg sync.WaitGroup
	for i, s := range c.cfg.Scanners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			results[i], errs[i] = s.Scan(sctx, in)
		}()
	}
	wg.Wait()
	return results, errs
}

// combine adds up the results of the scanners that answered; failed maps
// the others to their error.
func (c *Check) combine(results []Result, errs []error) (res Result, failed map[string]error) {
	var ok []Result
	for i, s := range c.cfg.Scanners {
		if errs[i] != nil {
			if failed == nil {
				failed = map[string]error{}
			}
			failed[s.Name()] = errs[i]
			continue
		}
		ok = append(ok, results[i])
	}
	return Combine(c.cfg.RejectScore, ok...), failed
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// verdicts is each scanner's answer, for the message's intake record.
func verdicts(scanners []Scanner, results []Result, errs []error) []queue.ScanVerdict {
	out := make([]queue.ScanVerdict, len(scanners))
	for i, s := range scanners {
		r := results[i]
		v := queue.ScanVerdict{Scanner: s.Name(), Result: queue.ScanClean, Score: r.Score}
		switch {
		case errs[i] != nil:
			v.Result, v.Detail = queue.ScanUnavailable, errs[i].Error()
		case r.Virus != "":
			v.Result, v.Detail = queue.ScanVirus, r.Virus
		case r.Spam:
			v.Result = queue.ScanSpam
		}
		out[i] = v
	}
	return out
}

// spooledOf is sub's spooled body as the scanners read it; nil when the
// message is in memory.
func spooledOf(sub *intake.Submission) queue.Spooled {
	if sub.Spooled == nil {
		return nil
	}
	return sub.Spooled
}
