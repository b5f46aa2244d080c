package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tallyhq/tally/internal/auth"
)

// Org is an organization, the top of the model.
type Org struct {
	ID        int64
	Name      string
	Token     string
	Active    bool
	CreatedAt time.Time
}

// OrgCounts are the figures of getOrganizationDetails.
type OrgCounts struct {
	Products, Projects, Users int
}

const orgColumns = `id, name, token, active, created_at`

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var o Org
	var created int64
	if err := row.Scan(&o.ID, &o.Name, &o.Token, &o.Active, &created); err != nil {
		return Org{}, err
	}
	o.CreatedAt = time.UnixMilli(created).UTC()
	return o, nil
}

// CreateOrg creates an organization with a new token and its first
// administrator, whose key is stored as keyHash.
func (s *Store) CreateOrg(ctx context.Context, name, adminEmail, keyHash string) (Org, error) {
	var org Org
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := nowMillis()
		row := tx.QueryRowContext(ctx, `INSERT INTO orgs (name, token, active, created_at) VALUES ($1, $2, TRUE, $3) RETURNING `+orgColumns,
			name, auth.NewKey(), now)
		var err error
		if org, err = scanOrg(row); err != nil {
			return fmt.Errorf("insert org: %w", err)
		}
		_, err = insertUser(ctx, tx, s, org.ID, adminEmail, keyHash, auth.OrgAdmin, 0)
		return err
	})
	if err != nil {
		return Org{}, fmt.Errorf("create org %q: %w", name, err)
	}
	return org, nil
}

// OrgByToken finds an organization by its token.
func (s *Store) OrgByToken(ctx context.Context, token string) (Org, error) {
	o, err := scanOrg(s.queryRow(ctx, `SELECT `+orgColumns+` FROM orgs WHERE token = $1`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return Org{}, ErrNotFound
	}
	if err != nil {
		return Org{}, fmt.Errorf("org by token: %w", err)
	}
	return o, nil
}

// OrgByID finds an organization by its id.
func (s *Store) OrgByID(ctx context.Context, id int64) (Org, error) {
	o, err := scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Org{}, ErrNotFound
	}
	if err != nil {
		return Org{}, fmt.Errorf("org by id: %w", err)
	}
	return o, nil
}

// CountOrgs tells whether the database is new.
func (s *Store) CountOrgs(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orgs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count orgs: %w", err)
	}
	return n, nil
}

// SetOrgActive activates or deactivates an organization.
func (s *Store) SetOrgActive(ctx context.Context, orgID int64, active bool) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE orgs SET active = $1 WHERE id = $2`, active, orgID); err != nil {
		return fmt.Errorf("set org active: %w", err)
	}
	return nil
}

// CountOrg counts an organization's products, projects and users.
func (s *Store) CountOrg(ctx context.Context, orgID int64) (OrgCounts, error) {
	var c OrgCounts
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM products WHERE org_id = $1),
		(SELECT COUNT(*) FROM projects p JOIN products pr ON pr.id = p.product_id WHERE pr.org_id = $1),
		(SELECT COUNT(*) FROM users WHERE org_id = $1)`, orgID).Scan(&c.Products, &c.Projects, &c.Users)
	if err != nil {
		return OrgCounts{}, fmt.Errorf("count org %d: %w", orgID, err)
	}
	return c, nil
}
