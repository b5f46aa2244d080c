package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Webhook is an organization's notification endpoint and the secret that
// signs what is posted to it.
type Webhook struct {
	OrgID     int64
	URL       string
	Secret    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const webhookColumns = `org_id, url, secret, created_at, updated_at`

func scanWebhook(row interface{ Scan(...any) error }) (Webhook, error) {
	var w Webhook
	var created, updated int64
	if err := row.Scan(&w.OrgID, &w.URL, &w.Secret, &created, &updated); err != nil {
		return Webhook{}, err
	}
	w.CreatedAt = millisTime(created)
	w.UpdatedAt = millisTime(updated)
	return w, nil
}

// SetWebhook sets an organization's webhook URL and secret, replacing the
// old ones.
func (s *Store) SetWebhook(ctx context.Context, orgID int64, url, secret string) (Webhook, error) {
	now := nowMillis()
	w, err := scanWebhook(s.db.QueryRowContext(ctx, `INSERT INTO webhooks (org_id, url, secret, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at
		RETURNING `+webhookColumns, orgID, url, secret, now))
	if err != nil {
		return Webhook{}, fmt.Errorf("set webhook: %w", err)
	}
	return w, nil
}

// DeleteWebhook removes an organization's webhook; it reports whether there
// was one. Messages already in the outbox are still delivered.
func (s *Store) DeleteWebhook(ctx context.Context, orgID int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM webhooks WHERE org_id = $1`, orgID)
	if err != nil {
		return false, fmt.Errorf("delete webhook: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("delete webhook: %w", err)
	}
	return n > 0, nil
}

// WebhookOf returns an organization's webhook, ErrNotFound when it has none.
func (s *Store) WebhookOf(ctx context.Context, orgID int64) (Webhook, error) {
	w, err := scanWebhook(s.db.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = $1`, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return Webhook{}, ErrNotFound
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("webhook: %w", err)
	}
	return w, nil
}

// WebhookTx is WebhookOf read inside tx.
func (s *Store) WebhookTx(ctx context.Context, tx *sql.Tx, orgID int64) (Webhook, error) {
	w, err := scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = $1`, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return Webhook{}, ErrNotFound
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("webhook: %w", err)
	}
	return w, nil
}
