package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/internal/auth"
)

// User is a user of one organization with their roles.
type User struct {
	ID     int64
	OrgID  int64
	Email  string
	Grants []auth.Grant
}

func insertUser(ctx context.Context, tx *sql.Tx, s *Store, orgID int64, email, keyHash string, role auth.Role, productID int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO users (org_id, email, key_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		orgID, email, keyHash, nowMillis()).Scan(&id)
	if err != nil {
		return 0, s.conflictOr(err, fmt.Sprintf("insert user %s", email))
	}
	if err := insertGrant(ctx, tx, id, role, productID); err != nil {
		return 0, err
	}
	return id, nil
}

func insertGrant(ctx context.Context, tx *sql.Tx, userID int64, role auth.Role, productID int64) error {
	var pid any
	if productID != 0 {
		pid = productID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, role, product_id) VALUES ($1, $2, $3)`, userID, string(role), pid); err != nil {
		return fmt.Errorf("insert role: %w", err)
	}
	return nil
}

// CreateUser adds a user to an organization with one role; productID is set
// for product roles.
func (s *Store) CreateUser(ctx context.Context, orgID int64, email, keyHash string, role auth.Role, productID int64) (User, error) {
	var u User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := insertUser(ctx, tx, s, orgID, email, keyHash, role, productID)
		u = User{ID: id, OrgID: orgID, Email: email, Grants: []auth.Grant{{Role: role, ProductID: productID}}}
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// GrantRole gives an existing user one more role.
func (s *Store) GrantRole(ctx context.Context, email string, role auth.Role, productID int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE email = $1`, email).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("grant role: %w", err)
		}
		return insertGrant(ctx, tx, id, role, productID)
	})
}

// UserByEmail finds a user by email (without their roles).
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT id, org_id, email FROM users WHERE email = $1`, email).Scan(&u.ID, &u.OrgID, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// UserByKeyHash authenticates a user by the hash of their key.
func (s *Store) UserByKeyHash(ctx context.Context, keyHash string) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT id, org_id, email FROM users WHERE key_hash = $1`, keyHash).Scan(&u.ID, &u.OrgID, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("user by key: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT role, COALESCE(product_id, 0) FROM user_roles WHERE user_id = $1`, u.ID)
	if err != nil {
		return User{}, fmt.Errorf("user roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g auth.Grant
		var role string
		if err := rows.Scan(&role, &g.ProductID); err != nil {
			return User{}, fmt.Errorf("user roles: %w", err)
		}
		g.Role = auth.Role(role)
		u.Grants = append(u.Grants, g)
	}
	if err := rows.Err(); err != nil {
		return User{}, fmt.Errorf("user roles: %w", err)
	}
	return u, nil
}

// RotateKey replaces a user's key hash; the old key stops working at once.
func (s *Store) RotateKey(ctx context.Context, email, newHash string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET key_hash = $1 WHERE email = $2`, newHash, email)
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rotate key of %s: %w", email, ErrNotFound)
	}
	return nil
}

// OrgAdminEmails lists the addresses of an organization's administrators.
func (s *Store) OrgAdminEmails(ctx context.Context, orgID int64) ([]string, error) {
	return s.strings(ctx, `SELECT DISTINCT u.email FROM users u JOIN user_roles r ON r.user_id = u.id
		WHERE u.org_id = $1 AND r.role = 'org-admin' ORDER BY u.email`, orgID)
}

// ProductAdminEmails lists the addresses of a product's administrators.
func (s *Store) ProductAdminEmails(ctx context.Context, productID int64) ([]string, error) {
	return s.strings(ctx, `SELECT DISTINCT u.email FROM users u JOIN user_roles r ON r.user_id = u.id
		WHERE r.product_id = $1 AND r.role = 'product-admin' ORDER BY u.email`, productID)
}

func (s *Store) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, query, args...)
	return scanStrings(rows, err)
}

// scanStrings reads a one-column result of strings.
func scanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rows: %w", err)
	}
	return out, nil
}

// Principal is a user authenticated by key, with their organization's
// state: what every API call needs first, read in one query.
type Principal struct {
	User
	OrgActive bool
}

// AuthenticateKey finds the user of a key hash with their roles and whether
// their organization is active, in one query.
func (s *Store) AuthenticateKey(ctx context.Context, keyHash string) (Principal, error) {
	rows, err := s.query(ctx, `SELECT u.id, u.org_id, u.email, o.active, r.role, COALESCE(r.product_id, 0)
		FROM users u JOIN orgs o ON o.id = u.org_id LEFT JOIN user_roles r ON r.user_id = u.id
		WHERE u.key_hash = $1`, keyHash)
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	defer rows.Close()
	var p Principal
	found := false
	for rows.Next() {
		var role sql.NullString
		var productID int64
		if err := rows.Scan(&p.ID, &p.OrgID, &p.Email, &p.OrgActive, &role, &productID); err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
		found = true
		if role.Valid {
			p.Grants = append(p.Grants, auth.Grant{Role: auth.Role(role.String), ProductID: productID})
		}
	}
	if err := rows.Err(); err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if !found {
		return Principal{}, ErrNotFound
	}
	return p, nil
}
