package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// NotificationConfig is an organization's project-setup notification rule.
type NotificationConfig struct {
	Action     string // ENABLED, DISABLED or CUSTOM
	KeyRegex   string
	ValueRegex string
	UpdatedAt  time.Time
}

// SetNotificationConfig stores an organization's rule, replacing the old one.
func (s *Store) SetNotificationConfig(ctx context.Context, orgID int64, c NotificationConfig) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO notification_configs (org_id, action, key_regex, value_regex, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (org_id) DO UPDATE SET action = excluded.action, key_regex = excluded.key_regex,
			value_regex = excluded.value_regex, updated_at = excluded.updated_at`,
		orgID, c.Action, c.KeyRegex, c.ValueRegex, nowMillis())
	if err != nil {
		return fmt.Errorf("set notification config: %w", err)
	}
	return nil
}

// NotificationConfigOf returns an organization's rule; an organization that
// never set one has ErrNotFound.
func (s *Store) NotificationConfigOf(ctx context.Context, orgID int64) (NotificationConfig, error) {
	var c NotificationConfig
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT action, key_regex, value_regex, updated_at FROM notification_configs WHERE org_id = $1`, orgID).
		Scan(&c.Action, &c.KeyRegex, &c.ValueRegex, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return NotificationConfig{}, ErrNotFound
	}
	if err != nil {
		return NotificationConfig{}, fmt.Errorf("notification config: %w", err)
	}
	c.UpdatedAt = time.UnixMilli(updated).UTC()
	return c, nil
}
