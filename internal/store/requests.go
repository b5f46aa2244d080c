package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Plugin request states, as getRequestState reports them.
const (
	RequestInProgress = "IN_PROGRESS"
	RequestUpdated    = "UPDATED"
	RequestFinished   = "FINISHED"
	RequestFailed     = "FAILED"
	RequestSkipped    = "SKIPPED"
)

// PluginRequest is an inventory update queued for processing.
type PluginRequest struct {
	ID        int64
	OrgID     int64
	Token     string
	ProductID int64
	ProjectID int64
	State     string
	UpdatedAt time.Time
}

// RequestByToken finds a plugin request of an organization by its token.
func (s *Store) RequestByToken(ctx context.Context, orgID int64, token string) (PluginRequest, error) {
	var r PluginRequest
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, org_id, token, COALESCE(product_id, 0), COALESCE(project_id, 0), state, updated_at
		FROM plugin_requests WHERE org_id = $1 AND token = $2`, orgID, token).
		Scan(&r.ID, &r.OrgID, &r.Token, &r.ProductID, &r.ProjectID, &r.State, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return PluginRequest{}, ErrNotFound
	}
	if err != nil {
		return PluginRequest{}, fmt.Errorf("request by token: %w", err)
	}
	r.UpdatedAt = time.UnixMilli(updated).UTC()
	return r, nil
}
