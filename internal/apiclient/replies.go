package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"sendpool/internal/history"
)

// IPReplies lists the recent replies receivers made to addr, every node's,
// newest first; limit 0 asks for all that are kept
// (GET /api/v1/ips/{address}/replies).
func (c *Client) IPReplies(ctx context.Context, addr string, limit int) ([]history.Reply, error) {
	path := "/api/v1/ips/" + url.PathEscape(addr) + "/replies"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	return many[[]history.Reply](ctx, c, http.MethodGet, path, nil)
}
