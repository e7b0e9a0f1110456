// Package tlsrpt is SMTP TLS Reporting (RFC 8460): a recipient domain
// that publishes a _smtp._tls record gets, once a day, the count of TLS
// sessions sendpool made to it under each policy (MTA-STS, DANE, none)
// and the details of those that failed. Every node counts its own
// sessions (Recorder) and adds them to the shared state; one node, holding
// a lease in the state, turns a finished day into the reports and sends
// them, by mail through the queue or by HTTPS POST (Reporter).
package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"sort"
	"time"
)

// The policy types of a report (RFC 8460 §4.4, "policy-type").
const (
	PolicySTS      = "sts"
	PolicyTLSA     = "tlsa"
	PolicyNotFound = "no-policy-found"
)

// The result types of a failed session (RFC 8460 §4.3) that sendpool
// meets. Those of the policies themselves are mtasts' and dane's.
const (
	ResultSTARTTLSNotSupported = "starttls-not-supported"
	ResultCertHostMismatch     = "certificate-host-mismatch"
	ResultCertExpired          = "certificate-expired"
	ResultCertNotTrusted       = "certificate-not-trusted"
	ResultValidationFailure    = "validation-failure"
)

// Report is one report (RFC 8460 §4.4), its JSON as the RFC spells it.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []PolicyResult `json:"policies"`
}

// DateRange is the span a report covers, in RFC 3339 UTC (§4.4).
type DateRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

// PolicyResult is the sessions made under one policy.
type PolicyResult struct {
	Policy         Policy          `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// Policy describes the policy sessions were made under (§4.4): its type,
// its text (the MTA-STS policy's lines, or the TLSA records), the domain
// it belongs to and the MX hosts it names (the MTA-STS patterns, or the
// DANE host).
type Policy struct {
	Type    string   `json:"policy-type"`
	Strings []string `json:"policy-string,omitempty"`
	Domain  string   `json:"policy-domain"`
	MXHosts []string `json:"mx-host,omitempty"`
}

// Summary counts sessions (§4.4).
type Summary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// FailureDetail counts the sessions that failed alike (§4.4).
type FailureDetail struct {
	ResultType          string `json:"result-type"`
	SendingMTAIP        string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP         string `json:"receiving-ip,omitempty"`
	FailedSessionCount  int64  `json:"failed-session-count"`
	// AdditionalInformation is a URI in the RFC; FailureReasonCode free
	// text: the error met, here.
	FailureReasonCode string `json:"failure-reason-code,omitempty"`
}

// dateTime is RFC 3339 in UTC, as §4.4's example writes it.
func dateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// NewDateRange is the range of the period starting at start and lasting
// period: its last second is its end, as in §4.4's example
// ("2016-04-01T00:00:00Z" to "2016-04-01T23:59:59Z").
func NewDateRange(start time.Time, period time.Duration) DateRange {
	return DateRange{Start: dateTime(start), End: dateTime(start.Add(period - time.Second))}
}

// sortPolicies orders a report's policies and their details, so that the
// same counts always give the same report.
func sortPolicies(ps []PolicyResult) {
	key := func(p Policy) string {
		b, _ := json.Marshal(p)
		return string(b)
	}
	sort.Slice(ps, func(i, j int) bool { return key(ps[i].Policy) < key(ps[j].Policy) })
	for _, p := range ps {
		sort.Slice(p.FailureDetails, func(i, j int) bool {
			a, b := p.FailureDetails[i], p.FailureDetails[j]
			if a.ResultType != b.ResultType {
				return a.ResultType < b.ResultType
			}
			if a.ReceivingMXHostname != b.ReceivingMXHostname {
				return a.ReceivingMXHostname < b.ReceivingMXHostname
			}
			if a.SendingMTAIP != b.SendingMTAIP {
				return a.SendingMTAIP < b.SendingMTAIP
			}
			return a.ReceivingIP < b.ReceivingIP
		})
	}
}

// Gzip is the report as sent (§5.1): JSON, gzip-compressed.
func (r *Report) Gzip() ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(js); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
