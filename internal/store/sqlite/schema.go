package sqlite

import (
	"database/sql"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version is the number applied.
// Append new steps; never edit one that has shipped.
var migrations = []string{
	// 1: the queue and the accounts. Times are unix milliseconds, 0 for none.
	`
CREATE TABLE messages (
	id        TEXT PRIMARY KEY,
	account   TEXT NOT NULL,
	mail_from TEXT NOT NULL,
	body      BLOB,             -- NULL once every delivery is final
	size      INTEGER NOT NULL,
	created   INTEGER NOT NULL,
	expires   INTEGER NOT NULL,
	bounce    INTEGER NOT NULL, -- a DSN we generated
	rcpts     INTEGER NOT NULL,
	status    TEXT NOT NULL     -- queue.Summarize of its deliveries, kept in step
);
CREATE INDEX messages_status ON messages(status, id);
CREATE INDEX messages_account ON messages(account, id);

-- A leased delivery keeps its status (queued or deferred) with
-- next_attempt = lease_until, so "due" is one condition whether it is new,
-- deferred or its lease expired.
CREATE TABLE deliveries (
	id           TEXT PRIMARY KEY, -- message_id/idx
	message_id   TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	idx          INTEGER NOT NULL,
	recipient    TEXT NOT NULL,
	domain       TEXT NOT NULL,
	status       TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	tried_ips    TEXT NOT NULL DEFAULT '[]', -- JSON array
	response     TEXT NOT NULL DEFAULT '',
	owner        TEXT NOT NULL DEFAULT '',
	generation   INTEGER NOT NULL DEFAULT 0,
	lease_until  INTEGER NOT NULL DEFAULT 0
);
-- Only waiting work is indexed by time, so a million deferred rows not yet
-- due cost Lease one index probe and final rows cost it nothing.
CREATE INDEX deliveries_due ON deliveries(next_attempt) WHERE status IN ('queued','deferred');
CREATE INDEX deliveries_message ON deliveries(message_id, idx);
CREATE INDEX deliveries_owner ON deliveries(owner) WHERE owner != '';
CREATE INDEX deliveries_status ON deliveries(status);

CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY,
	delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
	time        INTEGER NOT NULL,
	source_ip   TEXT NOT NULL,
	mx          TEXT NOT NULL,
	mx_addr     TEXT NOT NULL,
	response    TEXT NOT NULL,
	verdict     TEXT NOT NULL,
	category    TEXT NOT NULL,
	duration    INTEGER NOT NULL -- nanoseconds
);
CREATE INDEX attempts_delivery ON attempts(delivery_id, time);

CREATE TABLE accounts (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	domains       TEXT NOT NULL, -- JSON array
	networks      TEXT NOT NULL, -- JSON array of CIDR strings
	per_minute    INTEGER NOT NULL,
	per_hour      INTEGER NOT NULL,
	per_day       INTEGER NOT NULL,
	status        TEXT NOT NULL,
	reason        TEXT NOT NULL,
	created       INTEGER NOT NULL
);
`,
	// 2: every account.Limits field as JSON (recipient and sender limits;
	// the per_* columns stay in step).
	`
ALTER TABLE accounts ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
`,
	// 3: the source IP a greylisted delivery keeps for its next attempt.
	`
ALTER TABLE deliveries ADD COLUMN next_ip TEXT NOT NULL DEFAULT '';
`,
	// 4: a delivery's delay notice goes once (queue.Delivery.DelayNotified).
	`
ALTER TABLE deliveries ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
`,
	// Sending domains and their DKIM keys (domains.go). Idempotent, and run
	// again at every open by ensureDomainsSchema, whatever the version.
	domainsSchema,
	// 6: retention (purge.go). finished is when the last delivery became
	// final, 0 while any is not; messages already final get their last
	// attempt's time (or their creation). Bodies of finished bounces go, as
	// delivered ones' did: their DSNs were built before the bounce was
	// recorded (queue.SchedulerConfig.OnBounce).
	`
ALTER TABLE messages ADD COLUMN finished INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET finished = max(created, coalesce((SELECT max(a.time)
	FROM deliveries d JOIN attempts a ON a.delivery_id = d.id WHERE d.message_id = messages.id), 0), 1)
WHERE status IN ('delivered','bounced');
UPDATE messages SET body = NULL WHERE status = 'bounced' AND body IS NOT NULL;
CREATE INDEX messages_finished ON messages(finished) WHERE finished > 0;
`,
	// 7: intake's verdict on the message (queue.Intake) as JSON; NULL for
	// DSNs and messages stored before.
	`
ALTER TABLE messages ADD COLUMN intake TEXT;
`,
	// 8: the domains an account may name in From: beyond its own
	// (account.Account.ForeignFrom), a JSON array.
	`
ALTER TABLE accounts ADD COLUMN foreign_from TEXT NOT NULL DEFAULT '[]';
`,
	// 9: outbound TLS (SPEC §7): how each attempt's connection was
	// protected (queue.TLS; empty for attempts made before), and the
	// messages exempt from the recipients' TLS policies (TLS reports).
	`
ALTER TABLE attempts ADD COLUMN tls_version TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN tls_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN tls_policy TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN tls_failure TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN tls_optional INTEGER NOT NULL DEFAULT 0;
`,
	// 10: a large body (spooled at intake, issue 13) is stored in chunks of
	// queue.ChunkSize, so that neither its write nor its delivery holds it
	// whole: body is then empty and chunks their number. They go when the
	// body is dropped (the trigger) or the message purged (the cascade).
	`
ALTER TABLE messages ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;
CREATE TABLE body_chunks (
	message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	n          INTEGER NOT NULL,
	data       BLOB NOT NULL
);
CREATE UNIQUE INDEX body_chunks_message ON body_chunks(message_id, n);
CREATE TRIGGER body_chunks_dropped AFTER UPDATE OF body ON messages
	WHEN NEW.body IS NULL AND OLD.chunks > 0
	BEGIN DELETE FROM body_chunks WHERE message_id = NEW.id; END;
`,
}

// migrate brings the schema up to date in one transaction.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.Exec(migrations[i]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
	}
	if err := ensureDomainsSchema(tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := ensureSuppressionsSchema(tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := ensureHealthSchema(tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := ensureInboundSchema(tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := ensureWebhooksSchema(tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return fmt.Errorf("migrate: set version: %w", err)
	}
	return tx.Commit()
}
