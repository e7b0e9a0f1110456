package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/webhook"
)

// The webhook.Store half: endpoints, the outbox of events (the feed) and
// the sends still due to each endpoint (webhook_outbox.go).

var _ webhook.Store = (*Store)(nil)

// webhooksSchema creates the tables of the webhook outbox. Like
// suppressionsSchema it is idempotent and run at every open whatever
// user_version says.
//
// An event's seq is its feed cursor: AUTOINCREMENT never reuses one, and the
// single writer assigns them in commit order, so a reader that has seen seq
// n has seen every committed event before it. A send is one event still due
// to one endpoint; done ones are deleted, so the table holds only work.
// Indexes are few: every accepted message writes a row to each table, and
// each index is one more page in the commit. Purge goes by seq (events come
// in time order, near enough), give-up scans the sends (they are work in
// hand), and a send whose event is purged is never claimed (given up
// before: webhook.retention is at least webhook.retry_for).
const webhooksSchema = `
CREATE TABLE IF NOT EXISTS webhook_endpoints (
	id            TEXT PRIMARY KEY,
	url           TEXT NOT NULL,
	events        TEXT NOT NULL, -- JSON array of types
	account       TEXT NOT NULL, -- '' for a global endpoint
	secrets       TEXT NOT NULL, -- JSON [{"v","x"}], current first
	created       INTEGER NOT NULL,
	failing_since INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	disabled_at   INTEGER NOT NULL DEFAULT 0,
	reason        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS webhook_events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL,
	type       TEXT NOT NULL,
	time       INTEGER NOT NULL,
	account    TEXT NOT NULL,
	message_id TEXT NOT NULL,
	key        TEXT NOT NULL,
	body       BLOB NOT NULL,
	commit_id  TEXT NOT NULL DEFAULT '' -- webhook.Event.Commit
);
CREATE INDEX IF NOT EXISTS webhook_events_account ON webhook_events(account, seq);
CREATE INDEX IF NOT EXISTS webhook_events_commit ON webhook_events(time) WHERE commit_id != '';
CREATE TABLE IF NOT EXISTS webhook_sends (
	endpoint TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
	seq      INTEGER NOT NULL, -- webhook_events.seq
	key      TEXT NOT NULL,
	time     INTEGER NOT NULL, -- the event's
	attempts INTEGER NOT NULL DEFAULT 0,
	next     INTEGER NOT NULL,
	owner    TEXT NOT NULL DEFAULT '',
	gen      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (endpoint, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_sends_key ON webhook_sends(endpoint, key, seq);
CREATE INDEX IF NOT EXISTS webhook_sends_next ON webhook_sends(endpoint, next);
`

// ensureWebhooksSchema makes the tables whatever the schema version.
func ensureWebhooksSchema(tx *sql.Tx) error {
	if _, err := tx.Exec(webhooksSchema); err != nil {
		return fmt.Errorf("webhooks schema: %w", err)
	}
	return nil
}

// secretJSON is a webhook.Secret in the secrets column.
type secretJSON struct {
	Value   string `json:"v"`
	Expires int64  `json:"x,omitempty"` // unix ms
}

func encodeSecrets(ss []webhook.Secret) (string, error) {
	out := make([]secretJSON, len(ss))
	for i, s := range ss {
		out[i] = secretJSON{Value: s.Value, Expires: ms(s.Expires)}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

const endpointColumns = `id, url, events, account, secrets, created, failing_since, disabled, disabled_at, reason`

// CreateEndpoint stores a new endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	events, err := json.Marshal(e.Events)
	if err != nil {
		return fmt.Errorf("sqlite: create endpoint: %w", err)
	}
	secrets, err := encodeSecrets(e.Secrets)
	if err != nil {
		return fmt.Errorf("sqlite: create endpoint: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		_, err := tx.Exec(`INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.URL, string(events), e.Account, secrets, ms(e.Created), ms(e.FailingSince),
			e.Disabled, ms(e.DisabledAt), e.Reason)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create endpoint %s: %w", e.ID, err)
	}
	return nil
}

// GetEndpoint returns an endpoint; webhook.ErrNotFound if there is none.
func (s *Store) GetEndpoint(ctx context.Context, id string) (*webhook.Endpoint, error) {
	e, err := scanEndpoint(s.queryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, webhook.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get endpoint %s: %w", id, err)
	}
	return e, nil
}

// ListEndpoints returns every endpoint, oldest first.
func (s *Store) ListEndpoints(ctx context.Context) ([]*webhook.Endpoint, error) {
	rows, err := s.query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list endpoints: %w", err)
	}
	defer rows.Close()
	out := []*webhook.Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list endpoints: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list endpoints: %w", err)
	}
	return out, nil
}

// SetSecrets replaces an endpoint's secrets.
func (s *Store) SetSecrets(ctx context.Context, id string, secrets []webhook.Secret) error {
	enc, err := encodeSecrets(secrets)
	if err != nil {
		return fmt.Errorf("sqlite: set secrets %s: %w", id, err)
	}
	return s.updateEndpoint(ctx, id, `UPDATE webhook_endpoints SET secrets = ? WHERE id = ?`, enc, id)
}

// SetHealth replaces an endpoint's breaker state.
func (s *Store) SetHealth(ctx context.Context, id string, h webhook.Health) error {
	return s.updateEndpoint(ctx, id, `UPDATE webhook_endpoints
		SET failing_since = ?, disabled = ?, disabled_at = ?, reason = ? WHERE id = ?`,
		ms(h.FailingSince), h.Disabled, ms(h.DisabledAt), h.Reason, id)
}

// DeleteEndpoint removes an endpoint; its sends go with it (ON DELETE
// CASCADE).
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	return s.updateEndpoint(ctx, id, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
}

func (s *Store) updateEndpoint(ctx context.Context, id, q string, args ...any) error {
	err := s.write(ctx, func(tx *writeTx) error {
		res, err := tx.Exec(q, args...)
		return affected(res, err, webhook.ErrNotFound)
	})
	if err != nil && !errors.Is(err, webhook.ErrNotFound) {
		return fmt.Errorf("sqlite: endpoint %s: %w", id, err)
	}
	return err
}

func scanEndpoint(row interface{ Scan(...any) error }) (*webhook.Endpoint, error) {
	e := &webhook.Endpoint{}
	var events, secrets string
	var created, failing, disabledAt int64
	if err := row.Scan(&e.ID, &e.URL, &events, &e.Account, &secrets, &created, &failing, &e.Disabled,
		&disabledAt, &e.Reason); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
		return nil, fmt.Errorf("events of %s: %w", e.ID, err)
	}
	var ss []secretJSON
	if err := json.Unmarshal([]byte(secrets), &ss); err != nil {
		return nil, fmt.Errorf("secrets of %s: %w", e.ID, err)
	}
	for _, x := range ss {
		e.Secrets = append(e.Secrets, webhook.Secret{Value: x.Value, Expires: fromMS(x.Expires)})
	}
	e.Created, e.FailingSince, e.DisabledAt = fromMS(created), fromMS(failing), fromMS(disabledAt)
	return e, nil
}

// HeaderMessageID returns a message's Message-ID header as intake
// recorded it; "" for none (a DSN, a message without one), ErrNotFound for
// no such message.
func (s *Store) HeaderMessageID(ctx context.Context, id string) (string, error) {
	var h sql.NullString
	err := s.queryRow(ctx, `SELECT json_extract(intake, '$.header_message_id') FROM messages WHERE id = ?`, id).Scan(&h)
	if err != nil {
		return "", errNoRows(err, queue.ErrNotFound)
	}
	return h.String, nil
}

// committed reports whether message id is stored (webhook.Event.Commit).
func committed(tx *writeTx, id string) (bool, error) {
	var one int
	err := tx.QueryRow(`SELECT 1 FROM messages WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// settle decides an event written before its message's Put: "ok" once the
// message exists (and clears the mark), "wait" while Put may still be in
// flight, "void" once it cannot be (the event is deleted, with its sends).
func settle(tx *writeTx, seq int64, commit string, t, now time.Time) (string, error) {
	ok, err := committed(tx, commit)
	if err != nil {
		return "", err
	}
	switch {
	case ok:
		_, err = tx.Exec(`UPDATE webhook_events SET commit_id = '' WHERE seq = ?`, seq)
		return "ok", err
	case now.Sub(t) < webhook.SettleWithin:
		return "wait", nil
	}
	if _, err = tx.Exec(`DELETE FROM webhook_events WHERE seq = ?`, seq); err != nil {
		return "", err
	}
	_, err = tx.Exec(`DELETE FROM webhook_sends WHERE seq = ?`, seq) // rare: no index for it
	return "void", err
}
