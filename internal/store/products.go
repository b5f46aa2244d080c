package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tallyhq/tally/internal/auth"
)

// Product groups projects in an organization.
type Product struct {
	ID        int64
	OrgID     int64
	Name      string
	Token     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const productColumns = `id, org_id, name, token, created_at, updated_at`

func scanProduct(row interface{ Scan(...any) error }) (Product, error) {
	var p Product
	var created, updated int64
	if err := row.Scan(&p.ID, &p.OrgID, &p.Name, &p.Token, &created, &updated); err != nil {
		return Product{}, err
	}
	p.CreatedAt = time.UnixMilli(created).UTC()
	p.UpdatedAt = time.UnixMilli(updated).UTC()
	return p, nil
}

// CreateProduct creates a product with a new token. A name already taken in
// the organization gives ErrConflict.
func (s *Store) CreateProduct(ctx context.Context, orgID int64, name string) (Product, error) {
	var p Product
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = createProduct(ctx, tx, s, orgID, name)
		return err
	})
	return p, err
}

func createProduct(ctx context.Context, tx *sql.Tx, s *Store, orgID int64, name string) (Product, error) {
	now := nowMillis()
	p, err := scanProduct(tx.QueryRowContext(ctx, `INSERT INTO products (org_id, name, token, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING `+productColumns, orgID, name, auth.NewKey(), now))
	if err != nil {
		return Product{}, s.conflictOr(err, fmt.Sprintf("create product %q", name))
	}
	return p, nil
}

// ProductByToken finds a product by its token.
func (s *Store) ProductByToken(ctx context.Context, token string) (Product, error) {
	return s.oneProduct(ctx, `SELECT `+productColumns+` FROM products WHERE token = $1`, token)
}

// ProductByName finds a product of an organization by its name.
func (s *Store) ProductByName(ctx context.Context, orgID int64, name string) (Product, error) {
	return s.oneProduct(ctx, `SELECT `+productColumns+` FROM products WHERE org_id = $1 AND name = $2`, orgID, name)
}

func (s *Store) oneProduct(ctx context.Context, query string, args ...any) (Product, error) {
	p, err := scanProduct(s.queryRow(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, ErrNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("find product: %w", err)
	}
	return p, nil
}

// ProductsByOrg lists an organization's products by name.
func (s *Store) ProductsByOrg(ctx context.Context, orgID int64) ([]Product, error) {
	rows, err := s.query(ctx, `SELECT `+productColumns+` FROM products WHERE org_id = $1 ORDER BY name, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return out, nil
}

// DeleteProduct deletes a product, its projects and everything under them,
// and the organization's libraries no project uses any more.
func (s *Store) DeleteProduct(ctx context.Context, p Product) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM products WHERE id = $1`, p.ID); err != nil {
			return fmt.Errorf("delete product: %w", err)
		}
		return deleteUnusedLibraries(ctx, tx, s, p.OrgID)
	})
	if err != nil {
		return fmt.Errorf("delete product %q: %w", p.Name, err)
	}
	return nil
}

// deleteUnusedLibraries removes libraries of an organization that no project
// has in its inventory, so deletes leave nothing orphaned. The candidates go
// through DeleteUnusedLibrariesTx, which on PostgreSQL locks them before
// deleting, so that a reference another server is adding at that moment is
// not removed by the ON DELETE CASCADE.
func deleteUnusedLibraries(ctx context.Context, tx *sql.Tx, s *Store, orgID int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM libraries WHERE org_id = $1
		AND NOT EXISTS (SELECT 1 FROM project_libraries pl WHERE pl.library_id = libraries.id)`, orgID)
	if err != nil {
		return fmt.Errorf("find unused libraries: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("find unused libraries: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find unused libraries: %w", err)
	}
	return s.DeleteUnusedLibrariesTx(ctx, tx, orgID, ids)
}
