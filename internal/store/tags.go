package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Tags maps a tag key to its values, in the order they were saved.
type Tags map[string][]string

// TagOwner says whose tags are meant: products or projects.
type TagOwner int

// The two kinds of tag owners.
const (
	ProductTag TagOwner = iota
	ProjectTag
)

func (o TagOwner) table() (table, owner string) {
	if o == ProductTag {
		return "product_tags", "product_id"
	}
	return "project_tags", "project_id"
}

// AddTag saves one key/value pair; saving a pair that exists keeps one.
func (s *Store) AddTag(ctx context.Context, o TagOwner, ownerID int64, key, value string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return addTags(ctx, tx, o, ownerID, [][2]string{{key, value}}) })
}

func addTags(ctx context.Context, tx *sql.Tx, o TagOwner, ownerID int64, pairs [][2]string) error {
	table, owner := o.table()
	for _, kv := range pairs {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+owner+`, tag_key, tag_value) VALUES ($1, $2, $3)
			ON CONFLICT (`+owner+`, tag_key, tag_value) DO NOTHING`, ownerID, kv[0], kv[1])
		if err != nil {
			return fmt.Errorf("add tag %s=%s: %w", kv[0], kv[1], err)
		}
	}
	return nil
}

// RemoveTag deletes one key/value pair; it reports whether the pair existed.
func (s *Store) RemoveTag(ctx context.Context, o TagOwner, ownerID int64, key, value string) (bool, error) {
	table, owner := o.table()
	res, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+owner+` = $1 AND tag_key = $2 AND tag_value = $3`, ownerID, key, value)
	if err != nil {
		return false, fmt.Errorf("remove tag %s=%s: %w", key, value, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remove tag: %w", err)
	}
	return n > 0, nil
}

// TagsOf returns the tags of one product or project.
func (s *Store) TagsOf(ctx context.Context, o TagOwner, ownerID int64) (Tags, error) {
	table, owner := o.table()
	m, err := s.tagQuery(ctx, `SELECT `+owner+`, tag_key, tag_value FROM `+table+` WHERE `+owner+` = $1 ORDER BY id`, ownerID)
	if err != nil {
		return nil, err
	}
	if t := m[ownerID]; t != nil {
		return t, nil
	}
	return Tags{}, nil
}

// ProductTagsByOrg returns the tags of every product of an organization that
// has any, keyed by product id.
func (s *Store) ProductTagsByOrg(ctx context.Context, orgID int64) (map[int64]Tags, error) {
	return s.tagQuery(ctx, `SELECT t.product_id, t.tag_key, t.tag_value FROM product_tags t
		JOIN products pr ON pr.id = t.product_id WHERE pr.org_id = $1 ORDER BY t.id`, orgID)
}

// ProjectTagsByOrg returns the tags of every project of an organization.
func (s *Store) ProjectTagsByOrg(ctx context.Context, orgID int64) (map[int64]Tags, error) {
	return s.tagQuery(ctx, `SELECT t.project_id, t.tag_key, t.tag_value FROM project_tags t
		JOIN projects p ON p.id = t.project_id JOIN products pr ON pr.id = p.product_id WHERE pr.org_id = $1 ORDER BY t.id`, orgID)
}

// ProjectTagsByProduct returns the tags of every project of a product.
func (s *Store) ProjectTagsByProduct(ctx context.Context, productID int64) (map[int64]Tags, error) {
	return s.tagQuery(ctx, `SELECT t.project_id, t.tag_key, t.tag_value FROM project_tags t
		JOIN projects p ON p.id = t.project_id WHERE p.product_id = $1 ORDER BY t.id`, productID)
}

func (s *Store) tagQuery(ctx context.Context, query string, arg int64) (map[int64]Tags, error) {
	rows, err := s.query(ctx, query, arg)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	defer rows.Close()
	out := map[int64]Tags{}
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return nil, fmt.Errorf("read tags: %w", err)
		}
		t := out[id]
		if t == nil {
			t = Tags{}
			out[id] = t
		}
		t[k] = append(t[k], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	return out, nil
}
