package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tallyhq/tally/internal/auth"
)

// Project is a project of a product, with the state of its last update.
type Project struct {
	ID               int64
	ProductID        int64
	OrgID            int64
	ProductName      string
	Name             string
	Token            string
	Description      string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	PluginName       string
	UploadedBy       string
	LastRequestToken string
	LastScanComment  string
	LastProcess      string
	InProgress       bool
	StateAt          time.Time
}

const projectColumns = `p.id, p.product_id, pr.org_id, pr.name, p.name, p.token, p.description, p.created_at, p.updated_at,
	p.plugin_name, p.uploaded_by, p.last_request_token, p.last_scan_comment, p.last_process, p.in_progress, p.state_at`

const projectFrom = ` FROM projects p JOIN products pr ON pr.id = p.product_id `

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	var created, updated, state int64
	err := row.Scan(&p.ID, &p.ProductID, &p.OrgID, &p.ProductName, &p.Name, &p.Token, &p.Description, &created, &updated,
		&p.PluginName, &p.UploadedBy, &p.LastRequestToken, &p.LastScanComment, &p.LastProcess, &p.InProgress, &state)
	if err != nil {
		return Project{}, err
	}
	p.CreatedAt = time.UnixMilli(created).UTC()
	p.UpdatedAt = time.UnixMilli(updated).UTC()
	p.StateAt = time.UnixMilli(state).UTC()
	return p, nil
}

// CreateProject creates a project in a product with a new token (a UUID, as
// the spec's examples show). A name already taken in the product gives
// ErrConflict.
func (s *Store) CreateProject(ctx context.Context, product Product, name, description string) (Project, error) {
	var p Project
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = createProject(ctx, tx, s, product, name, description)
		return err
	})
	return p, err
}

func createProject(ctx context.Context, tx *sql.Tx, s *Store, product Product, name, description string) (Project, error) {
	now := nowMillis()
	var id int64
	token := auth.NewUUID()
	err := tx.QueryRowContext(ctx, `INSERT INTO projects (product_id, name, token, description, created_at, updated_at, state_at)
		VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING id`, product.ID, name, token, description, now).Scan(&id)
	if err != nil {
		return Project{}, s.conflictOr(err, fmt.Sprintf("create project %q", name))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE products SET updated_at = $1 WHERE id = $2`, now, product.ID); err != nil {
		return Project{}, fmt.Errorf("touch product: %w", err)
	}
	t := time.UnixMilli(now).UTC()
	return Project{ID: id, ProductID: product.ID, OrgID: product.OrgID, ProductName: product.Name, Name: name, Token: token,
		Description: description, CreatedAt: t, UpdatedAt: t, LastProcess: "SETUP", StateAt: t}, nil
}

// ProjectByToken finds a project by its token.
func (s *Store) ProjectByToken(ctx context.Context, token string) (Project, error) {
	return s.oneProject(ctx, `SELECT `+projectColumns+projectFrom+`WHERE p.token = $1`, token)
}

// ProjectByID finds a project by its id.
func (s *Store) ProjectByID(ctx context.Context, id int64) (Project, error) {
	return s.oneProject(ctx, `SELECT `+projectColumns+projectFrom+`WHERE p.id = $1`, id)
}

func (s *Store) oneProject(ctx context.Context, query string, args ...any) (Project, error) {
	p, err := scanProject(s.queryRow(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, ErrNotFound
	}
	if err != nil {
		return Project{}, fmt.Errorf("find project: %w", err)
	}
	return p, nil
}

// ProjectsByProduct lists a product's projects by name.
func (s *Store) ProjectsByProduct(ctx context.Context, productID int64) ([]Project, error) {
	return s.listProjects(ctx, `SELECT `+projectColumns+projectFrom+`WHERE p.product_id = $1 ORDER BY p.name, p.id`, productID)
}

// ProjectsByOrg lists an organization's projects by product name, then name.
func (s *Store) ProjectsByOrg(ctx context.Context, orgID int64) ([]Project, error) {
	return s.listProjects(ctx, `SELECT `+projectColumns+projectFrom+`WHERE pr.org_id = $1 ORDER BY pr.name, p.name, p.id`, orgID)
}

func (s *Store) listProjects(ctx context.Context, query string, args ...any) ([]Project, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// DeleteProject deletes a project with its inventory, tags and requests,
// and the organization's libraries no project uses any more.
func (s *Store) DeleteProject(ctx context.Context, p Project) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM projects WHERE id = $1`, p.ID); err != nil {
			return fmt.Errorf("delete project: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE products SET updated_at = $1 WHERE id = $2`, nowMillis(), p.ProductID); err != nil {
			return fmt.Errorf("touch product: %w", err)
		}
		return deleteUnusedLibraries(ctx, tx, s, p.OrgID)
	})
	if err != nil {
		return fmt.Errorf("delete project %q: %w", p.Name, err)
	}
	return nil
}
