// Package apiclient is a typed client for sendpool's HTTP API (package api,
// SPEC §5). The admin commands and the end-to-end tests use it.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/queue"
)

// Error is an answer of the API outside 2xx.
type Error struct {
	Status  int    // HTTP status code
	Message string // the body's "error", or the status text
}

func (e *Error) Error() string { return fmt.Sprintf("api: %d: %s", e.Status, e.Message) }

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// StatusOf returns the HTTP status carried by err, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Client calls one server's API.
type Client struct {
	base  string
	token string
	// HTTP is the client used; its Timeout bounds every call.
	HTTP *http.Client
}

// New returns a client for the API at baseURL (e.g. "http://127.0.0.1:8025"),
// sending token as the admin token when it is not empty.
func New(baseURL, token string) *Client {
	return &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		HTTP:  &http.Client{Timeout: time.Minute},
	}
}

// do sends a request with in (if not nil) as its JSON body and decodes a 2xx
// answer's body into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.roundTrip(req, out)
}

func (c *Client) roundTrip(req *http.Request, out any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		var eb api.ErrorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			e.Message = eb.Error
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: bad answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// one calls the API and decodes the answer into a new T.
func one[T any](ctx context.Context, c *Client, method, path string, in any) (*T, error) {
	var out T
	if err := c.do(ctx, method, path, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// many calls the API and decodes the answer, a list or a map, into a T.
func many[T any](ctx context.Context, c *Client, method, path string, in any) (T, error) {
	var out T
	err := c.do(ctx, method, path, in, &out)
	return out, err
}

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
	if err != nil {
		return err
	}
	return c.roundTrip(req, nil)
}

// Metrics returns the Prometheus text of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", &Error{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	return string(b), nil
}

// IPs lists the sending IPs.
func (c *Client) IPs(ctx context.Context) ([]api.IPStatus, error) {
	return many[[]api.IPStatus](ctx, c, http.MethodGet, "/api/v1/ips", nil)
}

// SuspendIP takes addr out of the pool for d (0: the server's default).
func (c *Client) SuspendIP(ctx context.Context, addr string, d time.Duration, reason string) (*api.IPStatus, error) {
	in := api.SuspendRequest{Reason: reason}
	if d != 0 {
		in.Duration = d.String()
	}
	return one[api.IPStatus](ctx, c, http.MethodPost, "/api/v1/ips/"+url.PathEscape(addr)+"/suspend", in)
}

// ResumeIP puts addr back in the pool.
func (c *Client) ResumeIP(ctx context.Context, addr string) (*api.IPStatus, error) {
	return one[api.IPStatus](ctx, c, http.MethodPost, "/api/v1/ips/"+url.PathEscape(addr)+"/resume", nil)
}

// CreateAccount creates an account.
func (c *Client) CreateAccount(ctx context.Context, in api.AccountRequest) (*account.Account, error) {
	return one[account.Account](ctx, c, http.MethodPost, "/api/v1/accounts", in)
}

// Accounts lists the accounts.
func (c *Client) Accounts(ctx context.Context) ([]*account.Account, error) {
	return many[[]*account.Account](ctx, c, http.MethodGet, "/api/v1/accounts", nil)
}

// Account returns one account.
func (c *Client) Account(ctx context.Context, name string) (*account.Account, error) {
	return one[account.Account](ctx, c, http.MethodGet, "/api/v1/accounts/"+url.PathEscape(name), nil)
}

// UpdateAccount changes the fields set in p.
func (c *Client) UpdateAccount(ctx context.Context, name string, p api.AccountPatch) (*account.Account, error) {
	return one[account.Account](ctx, c, http.MethodPatch, "/api/v1/accounts/"+url.PathEscape(name), p)
}

// DeleteAccount deletes an account.
func (c *Client) DeleteAccount(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/accounts/"+url.PathEscape(name), nil, nil)
}

// Messages lists messages, newest first, as f selects.
func (c *Client) Messages(ctx context.Context, f queue.Filter) ([]queue.MessageSummary, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Account != "" {
		q.Set("account", f.Account)
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Before != "" {
		q.Set("before", f.Before)
	}
	path := "/api/v1/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return many[[]queue.MessageSummary](ctx, c, http.MethodGet, path, nil)
}

// Message returns a message with its recipients and their attempts.
func (c *Client) Message(ctx context.Context, id string) (*queue.MessageDetail, error) {
	return one[queue.MessageDetail](ctx, c, http.MethodGet, "/api/v1/messages/"+url.PathEscape(id), nil)
}

// RetryMessage makes a message's deferred recipients due at once.
func (c *Client) RetryMessage(ctx context.Context, id string) (*queue.MessageDetail, error) {
	return c.messageAction(ctx, id, "retry")
}

// HoldMessage stops attempts for a message's unfinished recipients.
func (c *Client) HoldMessage(ctx context.Context, id string) (*queue.MessageDetail, error) {
	return c.messageAction(ctx, id, "hold")
}

// ReleaseMessage makes a held message's recipients due again.
func (c *Client) ReleaseMessage(ctx context.Context, id string) (*queue.MessageDetail, error) {
	return c.messageAction(ctx, id, "release")
}

func (c *Client) messageAction(ctx context.Context, id, action string) (*queue.MessageDetail, error) {
	return one[queue.MessageDetail](ctx, c, http.MethodPost, "/api/v1/messages/"+url.PathEscape(id)+"/"+action, nil)
}

// DeleteMessage removes a message from the queue.
func (c *Client) DeleteMessage(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/messages/"+url.PathEscape(id), nil, nil)
}

// QueueStats returns the number of deliveries in each status.
func (c *Client) QueueStats(ctx context.Context) (map[queue.Status]int, error) {
	return many[map[queue.Status]int](ctx, c, http.MethodGet, "/api/v1/queue/stats", nil)
}

// Send submits a message over HTTP as the account user (HTTP Basic), and
// returns its queue id. The admin token is not sent.
func (c *Client) Send(ctx context.Context, user, password string, in api.SendRequest) (string, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/send", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, password)
	var out api.SendReply
	if err := c.roundTrip(req, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// CreateWebhook calls POST /api/v1/webhooks: the answer has the secret,
// shown this once.
func (c *Client) CreateWebhook(ctx context.Context, in api.WebhookRequest) (*api.WebhookSecret, error) {
	return one[api.WebhookSecret](ctx, c, http.MethodPost, "/api/v1/webhooks", in)
}

// Webhooks calls GET /api/v1/webhooks.
func (c *Client) Webhooks(ctx context.Context) ([]api.Webhook, error) {
	return many[[]api.Webhook](ctx, c, http.MethodGet, "/api/v1/webhooks", nil)
}

// DeleteWebhook calls DELETE /api/v1/webhooks/{id}.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/webhooks/"+url.PathEscape(id), nil, nil)
}

// RotateWebhook calls POST /api/v1/webhooks/{id}/rotate: the new secret.
func (c *Client) RotateWebhook(ctx context.Context, id string) (*api.WebhookSecret, error) {
	return one[api.WebhookSecret](ctx, c, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/rotate", nil)
}

// EnableWebhook calls POST /api/v1/webhooks/{id}/enable.
func (c *Client) EnableWebhook(ctx context.Context, id string) (*api.Webhook, error) {
	return one[api.Webhook](ctx, c, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/enable", nil)
}

// Feed calls GET /api/v1/feed: events after the cursor after ("" from the
// start), of account ("" for all), at most limit (0: the server's default).
func (c *Client) Feed(ctx context.Context, after, account string, limit int) (*api.FeedPage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if account != "" {
		q.Set("account", account)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/v1/feed"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return one[api.FeedPage](ctx, c, http.MethodGet, path, nil)
}
