package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Outbox message states.
const (
	// OutboxPending waits for delivery (a first attempt or a retry).
	OutboxPending = "PENDING"
	// OutboxSent was delivered.
	OutboxSent = "SENT"
	// OutboxFailed was given up: a permanent refusal or too many attempts.
	OutboxFailed = "FAILED"
	// OutboxSkipped records a decision not to notify, and why (Note).
	OutboxSkipped = "SKIPPED"
)

// Outbox channels.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// OutboxMessage is one notification to deliver (or a recorded decision not
// to), written in the transaction of the event that caused it.
type OutboxMessage struct {
	ID        int64
	OrgID     int64
	ProjectID int64
	Event     string
	Channel   string
	// DedupKey is unique: enqueuing the same key twice keeps the first.
	DedupKey string
	State    string
	Note     string
	// Email: recipients, subject and the plain-text and HTML bodies.
	Recipients []string
	Subject    string
	BodyText   string
	BodyHTML   string
	// Webhook: the JSON document posted.
	Payload string

	Attempts      int
	LastError     string
	NextAttemptAt time.Time
	LeaseOwner    string
	LeaseUntil    time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SentAt        time.Time
}

const outboxColumns = `id, org_id, project_id, event, channel, dedup_key, state, note, recipients, subject, body_text, body_html,
	payload, attempts, last_error, next_attempt_at, lease_owner, lease_until, created_at, updated_at, sent_at`

func scanOutbox(row interface{ Scan(...any) error }) (OutboxMessage, error) {
	var m OutboxMessage
	var recipients string
	var next, lease, created, updated, sent int64
	err := row.Scan(&m.ID, &m.OrgID, &m.ProjectID, &m.Event, &m.Channel, &m.DedupKey, &m.State, &m.Note, &recipients,
		&m.Subject, &m.BodyText, &m.BodyHTML, &m.Payload, &m.Attempts, &m.LastError, &next, &m.LeaseOwner, &lease,
		&created, &updated, &sent)
	if err != nil {
		return OutboxMessage{}, err
	}
	if err := json.Unmarshal([]byte(recipients), &m.Recipients); err != nil {
		return OutboxMessage{}, fmt.Errorf("outbox message %d: recipients: %w", m.ID, err)
	}
	m.NextAttemptAt = millisTime(next)
	m.LeaseUntil = millisTime(lease)
	m.CreatedAt = millisTime(created)
	m.UpdatedAt = millisTime(updated)
	m.SentAt = millisTime(sent)
	return m, nil
}

// millisTime turns a stored millisecond timestamp into a time; 0 is the zero
// time.
func millisTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// EnqueueOutbox writes a message inside tx, the transaction of the event it
// reports, so both commit or neither does. A message whose DedupKey exists
// already is not written again: inserted is false and id is 0.
func (s *Store) EnqueueOutbox(ctx context.Context, tx *sql.Tx, m OutboxMessage) (id int64, inserted bool, err error) {
	if m.Recipients == nil {
		m.Recipients = []string{}
	}
	recipients, err := json.Marshal(m.Recipients)
	if err != nil {
		return 0, false, fmt.Errorf("enqueue outbox: recipients: %w", err)
	}
	if m.State == "" {
		m.State = OutboxPending
	}
	now := nowMillis()
	err = tx.QueryRowContext(ctx, `INSERT INTO outbox (org_id, project_id, event, channel, dedup_key, state, note, recipients,
			subject, body_text, body_html, payload, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13)
		ON CONFLICT (dedup_key) DO NOTHING RETURNING id`,
		m.OrgID, m.ProjectID, m.Event, m.Channel, m.DedupKey, m.State, m.Note, string(recipients),
		m.Subject, m.BodyText, m.BodyHTML, m.Payload, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("enqueue outbox %s: %w", m.DedupKey, err)
	}
	return id, true, nil
}

// ClaimOutbox takes one due pending message of a channel for delivery: it
// sets a lease (owner, until now+lease) and counts the attempt. A message
// whose lease is still running belongs to its holder; one whose lease
// expired (its holder died mid-delivery) can be claimed again, which is what
// makes delivery at-least-once.
//
// The claim is one UPDATE whose WHERE re-checks the state and lease of the
// row it picked, so when several servers share one database exactly one of
// them gets each lease: a competitor that picked the same row updates
// nothing and reports none (ok false) until its next poll. On PostgreSQL
// the pick skips rows another claim has locked, so competitors take
// different messages instead.
func (s *Store) ClaimOutbox(ctx context.Context, channel, owner string, now time.Time, lease time.Duration) (OutboxMessage, bool, error) {
	at := now.UnixMilli()
	m, err := scanOutbox(s.db.QueryRowContext(ctx, `UPDATE outbox SET lease_owner = $1, lease_until = $2,
			attempts = attempts + 1, updated_at = $3
		WHERE id = (SELECT id FROM outbox WHERE state = $4 AND channel = $5 AND next_attempt_at <= $3 AND lease_until <= $3
				ORDER BY next_attempt_at, id LIMIT 1`+s.dialect.skipLocked()+`)
			AND state = $4 AND lease_until <= $3
		RETURNING `+outboxColumns,
		owner, at+lease.Milliseconds(), at, OutboxPending, channel))
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxMessage{}, false, nil
	}
	if err != nil {
		return OutboxMessage{}, false, fmt.Errorf("claim outbox (%s): %w", channel, err)
	}
	return m, true, nil
}

// ErrOutboxLeaseLost is recording an outcome for a message whose lease another
// sender holds now (ours expired).
var ErrOutboxLeaseLost = errors.New("outbox lease lost")

// MarkOutboxSent records a delivery by the lease holder. warning is kept as
// the last error ("" for a clean delivery): e.g. recipients the SMTP server
// refused while it took the message for the others.
func (s *Store) MarkOutboxSent(ctx context.Context, id int64, owner, warning string, now time.Time) error {
	return s.settleOutbox(ctx, id, owner, `state = $3, last_error = $4, sent_at = $5, updated_at = $5`, OutboxSent, warning, now.UnixMilli())
}

// MarkOutboxRetry records a failed attempt by the lease holder and releases
// the lease; the message is due again at next.
func (s *Store) MarkOutboxRetry(ctx context.Context, id int64, owner, lastError string, next, now time.Time) error {
	return s.settleOutbox(ctx, id, owner, `last_error = $3, next_attempt_at = $4, updated_at = $5`, lastError, next.UnixMilli(), now.UnixMilli())
}

// MarkOutboxFailed records that the lease holder gave the message up.
func (s *Store) MarkOutboxFailed(ctx context.Context, id int64, owner, lastError string, now time.Time) error {
	return s.settleOutbox(ctx, id, owner, `state = $3, last_error = $4, updated_at = $5`, OutboxFailed, lastError, now.UnixMilli())
}

// settleOutbox applies set (whose parameters start at $3) to a message still
// leased by owner, and releases the lease.
func (s *Store) settleOutbox(ctx context.Context, id int64, owner, set string, args ...any) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET `+set+`, lease_owner = '', lease_until = 0
		WHERE id = $1 AND lease_owner = $2`, append([]any{id, owner}, args...)...)
	if err != nil {
		return fmt.Errorf("record outbox message %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("record outbox message %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("record outbox message %d: %w", id, ErrOutboxLeaseLost)
	}
	return nil
}

// OutboxOf lists an organization's outbox, oldest first.
func (s *Store) OutboxOf(ctx context.Context, orgID int64) ([]OutboxMessage, error) {
	return listOutbox(s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE org_id = $1 ORDER BY id`, orgID))
}

// OutboxRecent lists an organization's latest outbox messages, newest
// first, at most limit of them; state "" is any state.
func (s *Store) OutboxRecent(ctx context.Context, orgID int64, state string, limit int) ([]OutboxMessage, error) {
	return listOutbox(s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE org_id = $1 AND ($2 = '' OR state = $2)
		ORDER BY id DESC LIMIT $3`, orgID, state, limit))
}

// listOutbox reads the messages a query selected with outboxColumns.
func listOutbox(rows *sql.Rows, err error) ([]OutboxMessage, error) {
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("list outbox: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return out, nil
}

// OutboxMessageByID reads one message.
func (s *Store) OutboxMessageByID(ctx context.Context, id int64) (OutboxMessage, error) {
	m, err := scanOutbox(s.db.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxMessage{}, ErrNotFound
	}
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("outbox message %d: %w", id, err)
	}
	return m, nil
}

// Reads inside a transaction, for components that decide what to record
// with the event that caused it (the notifier in the pipeline's
// transaction).

// NotificationConfigTx is NotificationConfigOf read inside tx.
func (s *Store) NotificationConfigTx(ctx context.Context, tx *sql.Tx, orgID int64) (NotificationConfig, error) {
	var c NotificationConfig
	var updated int64
	err := tx.QueryRowContext(ctx, `SELECT action, key_regex, value_regex, updated_at FROM notification_configs WHERE org_id = $1`, orgID).
		Scan(&c.Action, &c.KeyRegex, &c.ValueRegex, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return NotificationConfig{}, ErrNotFound
	}
	if err != nil {
		return NotificationConfig{}, fmt.Errorf("notification config: %w", err)
	}
	c.UpdatedAt = millisTime(updated)
	return c, nil
}

// ProjectTagsTx reads a project's tags inside tx.
func (s *Store) ProjectTagsTx(ctx context.Context, tx *sql.Tx, projectID int64) (Tags, error) {
	rows, err := tx.QueryContext(ctx, `SELECT tag_key, tag_value FROM project_tags WHERE project_id = $1 ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("project tags: %w", err)
	}
	defer rows.Close()
	t := Tags{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("project tags: %w", err)
		}
		t[k] = append(t[k], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("project tags: %w", err)
	}
	return t, nil
}

// OrgAdminEmailsTx is OrgAdminEmails read inside tx.
func (s *Store) OrgAdminEmailsTx(ctx context.Context, tx *sql.Tx, orgID int64) ([]string, error) {
	return txStrings(ctx, tx, `SELECT DISTINCT u.email FROM users u JOIN user_roles r ON r.user_id = u.id
		WHERE u.org_id = $1 AND r.role = 'org-admin' ORDER BY u.email`, orgID)
}

// ProductAdminEmailsTx is ProductAdminEmails read inside tx.
func (s *Store) ProductAdminEmailsTx(ctx context.Context, tx *sql.Tx, productID int64) ([]string, error) {
	return txStrings(ctx, tx, `SELECT DISTINCT u.email FROM users u JOIN user_roles r ON r.user_id = u.id
		WHERE r.product_id = $1 AND r.role = 'product-admin' ORDER BY u.email`, productID)
}

func txStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	return scanStrings(tx.QueryContext(ctx, query, args...))
}

// SetupNames are the display names of a project's organization and product.
type SetupNames struct {
	OrgName, ProductName, ProjectName, ProjectToken string
	ProductID                                       int64
}

// SetupNamesTx reads the names around a project inside tx.
func (s *Store) SetupNamesTx(ctx context.Context, tx *sql.Tx, projectID int64) (SetupNames, error) {
	var n SetupNames
	err := tx.QueryRowContext(ctx, `SELECT o.name, pr.name, pr.id, p.name, p.token FROM projects p
		JOIN products pr ON pr.id = p.product_id JOIN orgs o ON o.id = pr.org_id WHERE p.id = $1`, projectID).
		Scan(&n.OrgName, &n.ProductName, &n.ProductID, &n.ProjectName, &n.ProjectToken)
	if errors.Is(err, sql.ErrNoRows) {
		return SetupNames{}, ErrNotFound
	}
	if err != nil {
		return SetupNames{}, fmt.Errorf("project %d names: %w", projectID, err)
	}
	return n, nil
}
