package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"sendpool/internal/account"
	"sendpool/internal/events"
)

// ReleaseAccount makes a held or suspended account active again and its
// held mail due (POST /api/v1/accounts/{name}/release).
func (c *Client) ReleaseAccount(ctx context.Context, name string) (*account.Account, error) {
	return one[account.Account](ctx, c, http.MethodPost, "/api/v1/accounts/"+url.PathEscape(name)+"/release", nil)
}

// Events lists the node's recent intake decisions and account events,
// newest first, as f selects (GET /api/v1/events).
func (c *Client) Events(ctx context.Context, f events.Filter) ([]events.Event, error) {
	q := url.Values{}
	for k, v := range map[string]string{"account": f.Account, "kind": f.Kind, "id": f.ID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := "/api/v1/events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return many[[]events.Event](ctx, c, http.MethodGet, path, nil)
}
