package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Rspamd scans with rspamd's normal worker over HTTP, POST /checkv2 (the
// rspamd protocol documentation): the message is the body; the envelope
// goes in the From, Rcpt, IP and User headers. The answer is JSON with the
// score, the action and the symbols that fired.
type Rspamd struct {
	URL    string       // e.g. "http://127.0.0.1:11333"
	Client *http.Client // nil: http.DefaultClient (the context bounds it)
}

// rspamdReply is the part of rspamd's answer used here.
type rspamdReply struct {
	Score         float64                 `json:"score"`
	RequiredScore float64                 `json:"required_score"`
	Action        string                  `json:"action"`
	Symbols       map[string]rspamdSymbol `json:"symbols"`
}

type rspamdSymbol struct {
	Name        string   `json:"name"`
	Score       float64  `json:"score"`
	Description string   `json:"description"`
	Options     []string `json:"options"`
}

// maxRspamdReply bounds the answer read.
const maxRspamdReply = 4 << 20

// Name implements Scanner.
func (r *Rspamd) Name() string { return "rspamd" }

// Scan implements Scanner. rspamd's score is the result's score; its
// "reject" action makes the message spam whatever the threshold; symbols
// with a score are the rules.
func (r *Rspamd) Scan(ctx context.Context, in *Input) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.URL, "/")+"/checkv2", in.NewReader())
	if err != nil {
		return Result{}, fmt.Errorf("rspamd: %w", err)
	}
	req.ContentLength = in.Size() // a spooled message's reader is no bytes.Reader
	if in.From != "" {
		req.Header.Set("From", in.From)
	}
	for _, rc := range in.To {
		req.Header.Add("Rcpt", rc)
	}
	if in.ClientIP.IsValid() {
		req.Header.Set("IP", in.ClientIP.String())
	}
	if in.Account != "" {
		// An authenticated sender: rspamd treats the mail as outbound.
		req.Header.Set("User", in.Account)
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("rspamd: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRspamdReply))
	if err != nil {
		return Result{}, fmt.Errorf("rspamd: read reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("rspamd: %s: %s", resp.Status, cut(string(body), 200))
	}
	return parseRspamdReply(body)
}

func parseRspamdReply(body []byte) (Result, error) {
	var rep rspamdReply
	if err := json.Unmarshal(body, &rep); err != nil {
		return Result{}, fmt.Errorf("rspamd: bad reply: %w", err)
	}
	if rep.Action == "" {
		return Result{}, fmt.Errorf("rspamd: reply without an action: %s", cut(string(body), 200))
	}
	res := Result{Score: rep.Score, Spam: rep.Action == "reject"}
	names := make([]string, 0, len(rep.Symbols))
	for name := range rep.Symbols {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := rep.Symbols[name]
		// Zero-score symbols are facts (ARC_NA, RCPT_COUNT_ONE), not rules
		// that fired; GTUBE is the exception: rspamd rejects on it with 0.
		if s.Score == 0 && !(name == "GTUBE" && res.Spam) {
			continue
		}
		detail := s.Description
		if len(s.Options) > 0 {
			detail = strings.TrimSpace(detail + " [" + strings.Join(s.Options, ", ") + "]")
		}
		res.Rules = append(res.Rules, Hit{Scanner: "rspamd", Name: name, Score: s.Score, Detail: detail})
	}
	if res.Spam && rep.Action == "reject" {
		res.Rules = append(res.Rules, Hit{Scanner: "rspamd", Name: "ACTION_REJECT",
			Detail: fmt.Sprintf("score %.2f of %.2f", rep.Score, rep.RequiredScore)})
	}
	return res, nil
}
