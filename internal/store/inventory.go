package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tallyhq/tally/internal/inventory"
)

const libraryColumns = `l.id, l.key_uuid, l.filename, l.name, l.group_id, l.artifact_id, l.version, l.sha1,
	l.lib_type, l.classifier, l.extension, l.purl, l.licenses`

func scanLibrary(dest *inventory.Library, licenses *string) []any {
	return []any{&dest.ID, &dest.KeyUUID, &dest.Filename, &dest.Name, &dest.GroupID, &dest.ArtifactID, &dest.Version,
		&dest.Sha1, &dest.Type, &dest.Classifier, &dest.Extension, &dest.Purl, licenses}
}

// decodeLicenses reads the JSON list of licence names a library keeps. Lists
// without escapes (nearly all) are split directly: this runs once per
// library of every uncached inventory read.
func decodeLicenses(s string) ([]string, error) {
	var out []string
	if s == "" || s == "[]" {
		return nil, nil
	}
	if len(s) > 4 && s[0] == '[' && s[1] == '"' && s[len(s)-2] == '"' && s[len(s)-1] == ']' && !strings.ContainsRune(s, '\\') {
		return strings.Split(s[2:len(s)-2], `","`), nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode licenses: %w", err)
	}
	return out, nil
}

// ProjectInventory returns every library of a project, in keyId order.
func (s *Store) ProjectInventory(ctx context.Context, projectID int64) ([]inventory.ProjectLibrary, error) {
	rows, err := s.query(ctx, `SELECT `+libraryColumns+`, pl.is_root, pl.scope, pl.match_type, pl.system_path
		FROM project_libraries pl JOIN libraries l ON l.id = pl.library_id
		WHERE pl.project_id = $1 ORDER BY l.id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("project inventory: %w", err)
	}
	defer rows.Close()
	var out []inventory.ProjectLibrary
	for rows.Next() {
		var pl inventory.ProjectLibrary
		var lic string
		dest := append(scanLibrary(&pl.Library, &lic), &pl.Root, &pl.Scope, &pl.MatchType, &pl.SystemPath)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("project inventory: %w", err)
		}
		if pl.Licenses, err = decodeLicenses(lic); err != nil {
			return nil, err
		}
		out = append(out, pl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("project inventory: %w", err)
	}
	return out, nil
}

// ProjectLibraries returns a project's libraries in keyId order with what
// getProjectHierarchy and getProjectInventory show: ProjectInventory
// without scope, classifier, extension, purl and system path, which makes
// the uncached read of a large project a quarter cheaper.
func (s *Store) ProjectLibraries(ctx context.Context, projectID int64) ([]inventory.ProjectLibrary, error) {
	rows, err := s.query(ctx, `SELECT l.id, l.key_uuid, l.filename, l.name, l.group_id, l.artifact_id, l.version, l.sha1,
		l.lib_type, l.licenses, pl.is_root, pl.match_type
		FROM project_libraries pl JOIN libraries l ON l.id = pl.library_id
		WHERE pl.project_id = $1 ORDER BY l.id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("project libraries: %w", err)
	}
	defer rows.Close()
	var out []inventory.ProjectLibrary
	for rows.Next() {
		var pl inventory.ProjectLibrary
		var lic string
		if err := rows.Scan(&pl.ID, &pl.KeyUUID, &pl.Filename, &pl.Name, &pl.GroupID, &pl.ArtifactID, &pl.Version, &pl.Sha1,
			&pl.Type, &lic, &pl.Root, &pl.MatchType); err != nil {
			return nil, fmt.Errorf("project libraries: %w", err)
		}
		if pl.Licenses, err = decodeLicenses(lic); err != nil {
			return nil, err
		}
		out = append(out, pl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("project libraries: %w", err)
	}
	return out, nil
}

// ProjectEdges returns a project's dependency edges.
func (s *Store) ProjectEdges(ctx context.Context, projectID int64) ([]inventory.Edge, error) {
	rows, err := s.query(ctx, `SELECT parent_id, child_id FROM library_edges WHERE project_id = $1 ORDER BY parent_id, child_id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("project edges: %w", err)
	}
	defer rows.Close()
	var out []inventory.Edge
	for rows.Next() {
		var e inventory.Edge
		if err := rows.Scan(&e.Parent, &e.Child); err != nil {
			return nil, fmt.Errorf("project edges: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("project edges: %w", err)
	}
	return out, nil
}

// LibraryByUUID finds a library of an organization by its keyUuid.
func (s *Store) LibraryByUUID(ctx context.Context, orgID int64, keyUUID string) (inventory.Library, error) {
	var l inventory.Library
	var lic string
	err := s.queryRow(ctx, `SELECT `+libraryColumns+` FROM libraries l WHERE l.org_id = $1 AND l.key_uuid = $2`, orgID, keyUUID).
		Scan(scanLibrary(&l, &lic)...)
	if errors.Is(err, sql.ErrNoRows) {
		return inventory.Library{}, ErrNotFound
	}
	if err != nil {
		return inventory.Library{}, fmt.Errorf("library by uuid: %w", err)
	}
	if l.Licenses, err = decodeLicenses(lic); err != nil {
		return inventory.Library{}, err
	}
	return l, nil
}

// ProjectHasLibrary reports whether a library is in a project's inventory.
func (s *Store) ProjectHasLibrary(ctx context.Context, projectID, libraryID int64) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM project_libraries WHERE project_id = $1 AND library_id = $2`, projectID, libraryID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("project has library: %w", err)
	}
	return n > 0, nil
}

// SourceFiles returns the source files of a library in a project.
func (s *Store) SourceFiles(ctx context.Context, projectID, libraryID int64) ([]inventory.SourceFile, error) {
	rows, err := s.query(ctx, `SELECT sha1, name, path FROM source_files WHERE project_id = $1 AND library_id = $2 ORDER BY name, path, sha1`, projectID, libraryID)
	if err != nil {
		return nil, fmt.Errorf("source files: %w", err)
	}
	defer rows.Close()
	var out []inventory.SourceFile
	for rows.Next() {
		var f inventory.SourceFile
		if err := rows.Scan(&f.Sha1, &f.Name, &f.Path); err != nil {
			return nil, fmt.Errorf("source files: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("source files: %w", err)
	}
	return out, nil
}

// InhousePatterns returns an organization's in-house glob patterns.
func (s *Store) InhousePatterns(ctx context.Context, orgID int64) ([]string, error) {
	return s.strings(ctx, `SELECT pattern FROM inhouse_patterns WHERE org_id = $1 ORDER BY pattern`, orgID)
}

// AddInhousePattern marks libraries matching pattern as in-house.
func (s *Store) AddInhousePattern(ctx context.Context, orgID int64, pattern string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO inhouse_patterns (org_id, pattern) VALUES ($1, $2) ON CONFLICT (org_id, pattern) DO NOTHING`, orgID, pattern)
	if err != nil {
		return fmt.Errorf("add in-house pattern: %w", err)
	}
	return nil
}
