package tlsrpt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sendpool/internal/queue"
)

// ContentType is the media type of a gzipped report (RFC 8460 §6.4).
const ContentType = "application/tlsrpt+gzip"

// postTimeout bounds one HTTPS delivery of a report.
const postTimeout = time.Minute

// post delivers a report by HTTPS POST (§5.4): any 2xx is success.
func (r *Reports) post(ctx context.Context, uri string, gz []byte) error {
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ContentType)
	resp, err := r.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", uri, resp.Status)
	}
	return nil
}

// mail queues a report to a mailto: URI (§5.3), exempt from TLS policies:
// a report about failing TLS must get through (§3).
func (r *Reports) mail(ctx context.Context, rep *Report, domain, uri string, start time.Time, gz []byte) error {
	to, err := mailtoAddress(uri)
	if err != nil {
		return err
	}
	now := r.cfg.Now()
	msg := r.compose(rep, domain, to, start, now, gz)
	if r.cfg.Sign != nil {
		if msg, err = r.cfg.Sign(ctx, msg); err != nil {
			return fmt.Errorf("signing: %w", err)
		}
	}
	err = r.cfg.Queue.Put(ctx, &queue.Message{
		From:        r.cfg.From,
		Recipients:  []string{to},
		Body:        msg,
		Created:     now,
		Expires:     queue.ExpiresAt(now, r.cfg.MaxQueueTime),
		TLSOptional: true,
	})
	if err != nil {
		return err
	}
	if r.cfg.OnQueued != nil {
		r.cfg.OnQueued()
	}
	return nil
}

// compose writes the report mail of §5.3: the Subject and the
// TLS-Report-Domain and TLS-Report-Submitter fields, a multipart/report of
// report-type tlsrpt with a short text and the gzipped report under the
// file name of §5.1.
func (r *Reports) compose(rep *Report, domain, to string, start, now time.Time, gz []byte) []byte {
	sub := r.submitter()
	boundary := "tlsrpt-" + randomHex(12)
	end := start.Add(r.cfg.Period)
	name := sub + "!" + domain + "!" + strconv.FormatInt(start.Unix(), 10) + "!" + strconv.FormatInt(end.Unix(), 10) + ".json.gz"
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", "<"+r.cfg.From+">")
	h("To", "<"+to+">")
	h("Date", now.Format(time.RFC1123Z))
	h("Subject", "Report Domain: "+domain+" Submitter: "+sub+" Report-ID: <"+rep.ReportID+">")
	h("Message-ID", "<"+randomHex(16)+"@"+sub+">")
	h("TLS-Report-Domain", domain)
	h("TLS-Report-Submitter", sub)
	h("Auto-Submitted", "auto-generated") // RFC 3834 §5
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type="tlsrpt"; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	b.WriteString("This is a multi-part message in MIME format.\r\n\r\n--" + boundary + "\r\n")
	h("Content-Type", "text/plain; charset=us-ascii")
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "This is an aggregate TLS report (RFC 8460) from %s for %s,\r\nfor %s to %s.\r\n",
		sub, domain, rep.DateRange.Start, rep.DateRange.End)
	b.WriteString("\r\n--" + boundary + "\r\n")
	h("Content-Type", ContentType)
	h("Content-Transfer-Encoding", "base64")
	h("Content-Disposition", `attachment; filename="`+name+`"`)
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--" + boundary + "--\r\n")
	return []byte(b.String())
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
