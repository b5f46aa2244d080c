package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/inventory"
)

// This file holds the SQL of the inventory pipeline: queueing a plugin
// request with the products and projects it creates (one transaction),
// claiming requests under a lease, and storing a reconciled inventory in
// bulk (multi-row statements in batches, never a statement per library).

// ErrLeaseLost is a processor finding that its claim on a request was taken
// over (its lease expired) or the request deleted: it must not commit.
var ErrLeaseLost = errors.New("request lease lost")

// Project lifecycle steps, as getProjectState reports them.
const (
	ProcessSetup        = "SETUP"
	ProcessDiff         = "DIFF"
	ProcessUpdate       = "UPDATE"
	ProcessRemove       = "REMOVE"
	ProcessUpdateAlerts = "UPDATE_ALERTS"
)

// ProductByRefTx finds a product of an organization by token, else by name.
func (s *Store) ProductByRefTx(ctx context.Context, tx *sql.Tx, orgID int64, ref string) (Product, error) {
	p, err := scanProduct(tx.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE org_id = $1 AND (token = $2 OR name = $2)
		ORDER BY CASE WHEN token = $2 THEN 0 ELSE 1 END LIMIT 1`, orgID, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, ErrNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("find product %q: %w", ref, err)
	}
	return p, nil
}

// CreateProductTx creates a product inside a transaction.
func (s *Store) CreateProductTx(ctx context.Context, tx *sql.Tx, orgID int64, name string) (Product, error) {
	return createProduct(ctx, tx, s, orgID, name)
}

// ProjectByTokenTx finds a project by token inside a transaction.
func (s *Store) ProjectByTokenTx(ctx context.Context, tx *sql.Tx, token string) (Project, error) {
	return oneProjectTx(ctx, tx, `SELECT `+projectColumns+projectFrom+`WHERE p.token = $1`, token)
}

// ProjectByNameTx finds a project of a product by name inside a transaction.
func (s *Store) ProjectByNameTx(ctx context.Context, tx *sql.Tx, productID int64, name string) (Project, error) {
	return oneProjectTx(ctx, tx, `SELECT `+projectColumns+projectFrom+`WHERE p.product_id = $1 AND p.name = $2`, productID, name)
}

// ProjectByIDTx finds a project by id inside a transaction.
func (s *Store) ProjectByIDTx(ctx context.Context, tx *sql.Tx, id int64) (Project, error) {
	return oneProjectTx(ctx, tx, `SELECT `+projectColumns+projectFrom+`WHERE p.id = $1`, id)
}

func oneProjectTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (Project, error) {
	p, err := scanProject(tx.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, ErrNotFound
	}
	if err != nil {
		return Project{}, fmt.Errorf("find project: %w", err)
	}
	return p, nil
}

// CreateProjectTx creates a project inside a transaction.
func (s *Store) CreateProjectTx(ctx context.Context, tx *sql.Tx, product Product, name string) (Project, error) {
	return createProject(ctx, tx, s, product, name, "")
}

// AddProjectTagsTx saves key/value pairs on a project (existing pairs stay).
func (s *Store) AddProjectTagsTx(ctx context.Context, tx *sql.Tx, projectID int64, pairs [][2]string) error {
	return addTags(ctx, tx, ProjectTag, projectID, pairs)
}

// activeRequest is the condition on plugin_requests r of a request that is
// queued or being processed.
const activeRequest = `r.state IN ('IN_PROGRESS', 'UPDATED')`

// ProjectsBusyTx reports whether a request for any of the projects is being
// processed right now: claimed by a processor whose lease has not expired.
func (s *Store) ProjectsBusyTx(ctx context.Context, tx *sql.Tx, projectIDs []int64, now time.Time) (bool, error) {
	if len(projectIDs) == 0 {
		return false, nil
	}
	args := []any{now.UnixMilli()}
	for _, id := range projectIDs {
		args = append(args, id)
	}
	var n int
	err := tx.QueryRowContext(ctx, s.bind(`SELECT COUNT(*) FROM plugin_request_projects rp JOIN plugin_requests r ON r.id = rp.request_id
		WHERE `+activeRequest+` AND r.lease_owner <> '' AND r.lease_until >= ? AND rp.project_id IN (`+inList(len(projectIDs))+`)`), args...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("projects busy: %w", err)
	}
	return n > 0, nil
}

// NewRequest is a plugin request to queue.
type NewRequest struct {
	OrgID          int64
	Token          string
	ProductID      int64
	ProjectIDs     []int64 // in the order of the payload's projects
	State          string  // RequestInProgress (queued) or RequestSkipped
	UpdateType     string
	Source         string
	Payload        []byte
	RequesterEmail string
	UploadedBy     string
}

// InsertRequestTx queues a plugin request. A queued request marks its
// projects in progress.
func (s *Store) InsertRequestTx(ctx context.Context, tx *sql.Tx, r NewRequest) (int64, error) {
	now := nowMillis()
	var first any
	if len(r.ProjectIDs) > 0 {
		first = r.ProjectIDs[0]
	}
	if r.State != RequestInProgress {
		r.Payload = nil // never processed: nothing to keep
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO plugin_requests (org_id, token, product_id, project_id, state, update_type, source, payload,
		requester_email, uploaded_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id`,
		r.OrgID, r.Token, r.ProductID, first, r.State, r.UpdateType, r.Source, string(r.Payload), r.RequesterEmail, r.UploadedBy, now).Scan(&id)
	if err != nil {
		return 0, s.conflictOr(err, "insert plugin request")
	}
	for pos, pid := range r.ProjectIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO plugin_request_projects (request_id, pos, project_id) VALUES ($1, $2, $3)`, id, pos, pid); err != nil {
			return 0, fmt.Errorf("insert plugin request project: %w", err)
		}
	}
	if r.State == RequestInProgress && len(r.ProjectIDs) > 0 {
		args := []any{}
		for _, pid := range r.ProjectIDs {
			args = append(args, pid)
		}
		if _, err := tx.ExecContext(ctx, s.bind(`UPDATE projects SET in_progress = TRUE WHERE id IN (`+inList(len(args))+`)`), args...); err != nil {
			return 0, fmt.Errorf("mark projects in progress: %w", err)
		}
	}
	return id, nil
}

// Claim is a plugin request claimed for processing.
type Claim struct {
	ID             int64
	OrgID          int64
	Token          string
	ProductID      int64
	State          string
	UpdateType     string
	Source         string
	RequesterEmail string
	UploadedBy     string
	Attempts       int
	Owner          string
	// Projects are the request's project IDs by payload position; 0 for a
	// project deleted since the request was queued.
	Projects []int64
}

// ExpiredFailure is the reason a request whose processors kept dying is
// marked FAILED with.
const ExpiredFailure = "processing was interrupted (the processor stopped before finishing) too many times"

// ClaimRequest claims the oldest request that is queued, or whose processor
// died (its lease expired), and whose projects no live processor is working
// on. A request whose lease expired after maxAttempts claims is marked
// FAILED instead. It returns nil when there is nothing to do.
func (s *Store) ClaimRequest(ctx context.Context, owner string, lease time.Duration, maxAttempts int) (*Claim, error) {
	var c *Claim
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := nowMillis()
		// Requests whose processors died too often end FAILED.
		rows, err := tx.QueryContext(ctx, `SELECT r.id FROM plugin_requests r WHERE `+activeRequest+` AND r.lease_owner <> ''
			AND r.lease_until < $1 AND r.attempts >= $2`+s.dialect.skipLocked(), now, maxAttempts)
		if err != nil {
			return fmt.Errorf("find expired requests: %w", err)
		}
		var dead []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("find expired requests: %w", err)
			}
			dead = append(dead, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find expired requests: %w", err)
		}
		for _, id := range dead {
			if err := failTx(ctx, tx, id, ExpiredFailure, now); err != nil {
				return err
			}
		}
		var id int64
		var attempts int
		err = tx.QueryRowContext(ctx, `SELECT r.id, r.attempts FROM plugin_requests r WHERE `+activeRequest+`
			AND (r.lease_owner = '' OR r.lease_until < $1)
			AND NOT EXISTS (SELECT 1 FROM plugin_request_projects a
				JOIN plugin_request_projects b ON b.project_id = a.project_id AND b.request_id <> a.request_id
				JOIN plugin_requests o ON o.id = b.request_id
				WHERE a.request_id = r.id AND o.state IN ('IN_PROGRESS', 'UPDATED')
				AND ((o.lease_owner <> '' AND o.lease_until >= $1) OR o.id < r.id))
			ORDER BY r.id LIMIT 1`+s.dialect.skipLocked(), now).Scan(&id, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find queued request: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE plugin_requests SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3
			WHERE id = $4 AND attempts = $5 AND (lease_owner = '' OR lease_until < $3)`, owner, now+lease.Milliseconds(), now, id, attempts)
		if err != nil {
			return fmt.Errorf("claim request: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err // another processor won the race: try again later
		}
		c = &Claim{ID: id, Owner: owner, Attempts: attempts + 1}
		err = tx.QueryRowContext(ctx, `SELECT org_id, token, COALESCE(product_id, 0), state, update_type, source, requester_email, uploaded_by
			FROM plugin_requests WHERE id = $1`, id).Scan(&c.OrgID, &c.Token, &c.ProductID, &c.State, &c.UpdateType, &c.Source,
			&c.RequesterEmail, &c.UploadedBy)
		if err != nil {
			return fmt.Errorf("read claimed request: %w", err)
		}
		prow, err := tx.QueryContext(ctx, `SELECT pos, project_id FROM plugin_request_projects WHERE request_id = $1 ORDER BY pos`, id)
		if err != nil {
			return fmt.Errorf("read request projects: %w", err)
		}
		defer prow.Close()
		for prow.Next() {
			var pos int
			var pid int64
			if err := prow.Scan(&pos, &pid); err != nil {
				return fmt.Errorf("read request projects: %w", err)
			}
			for len(c.Projects) <= pos {
				c.Projects = append(c.Projects, 0)
			}
			c.Projects[pos] = pid
		}
		if err := prow.Err(); err != nil {
			return fmt.Errorf("read request projects: %w", err)
		}
		if c.State == RequestInProgress {
			_, err = tx.ExecContext(ctx, `UPDATE projects SET last_process = $1, in_progress = TRUE, state_at = $2
				WHERE id IN (SELECT project_id FROM plugin_request_projects WHERE request_id = $3)`, ProcessDiff, now, id)
			if err != nil {
				return fmt.Errorf("mark projects diffing: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim plugin request: %w", err)
	}
	return c, nil
}

// PruneRequests deletes requests that ended (FINISHED, FAILED, SKIPPED)
// before the given time, at most limit of them; it returns how many.
func (s *Store) PruneRequests(ctx context.Context, before time.Time, limit int) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM plugin_requests WHERE id IN (SELECT id FROM plugin_requests
		WHERE state IN ('FINISHED', 'FAILED', 'SKIPPED') AND updated_at < $1 ORDER BY id LIMIT $2)`, before.UnixMilli(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune requests: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune requests: %w", err)
	}
	return n, nil
}

// RequestPayload reads a request's stored payload (kept until the request
// ends).
func (s *Store) RequestPayload(ctx context.Context, id int64) ([]byte, error) {
	var payload string
	if err := s.db.QueryRowContext(ctx, `SELECT payload FROM plugin_requests WHERE id = $1`, id).Scan(&payload); err != nil {
		return nil, fmt.Errorf("read request payload: %w", err)
	}
	return []byte(payload), nil
}

// fenced is the condition that the claim still holds the request.
const fenced = ` WHERE id = $1 AND lease_owner = $2 AND attempts = $3`

// RenewLease extends a claim's lease; ErrLeaseLost when it was taken over.
func (s *Store) RenewLease(ctx context.Context, c *Claim, lease time.Duration) error {
	res, err := s.db.ExecContext(ctx, `UPDATE plugin_requests SET lease_until = $4`+fenced, c.ID, c.Owner, c.Attempts, nowMillis()+lease.Milliseconds())
	return checkFenced(res, err, "renew lease")
}

// ReleaseRequest gives a claimed request back to the queue without counting
// the attempt (a processor shutting down gracefully).
func (s *Store) ReleaseRequest(ctx context.Context, c *Claim) error {
	res, err := s.db.ExecContext(ctx, `UPDATE plugin_requests SET lease_owner = '', lease_until = 0, attempts = attempts - 1`+fenced, c.ID, c.Owner, c.Attempts)
	return checkFenced(res, err, "release request")
}

// RetryRequest gives a claimed request whose attempt failed back to the
// queue, the attempt counted.
func (s *Store) RetryRequest(ctx context.Context, c *Claim) error {
	res, err := s.db.ExecContext(ctx, `UPDATE plugin_requests SET lease_owner = '', lease_until = 0`+fenced, c.ID, c.Owner, c.Attempts)
	return checkFenced(res, err, "retry request")
}

func checkFenced(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n != 1 {
		return fmt.Errorf("%s: %w", what, ErrLeaseLost)
	}
	return nil
}

// FailRequest marks a claimed request FAILED with a reason.
func (s *Store) FailRequest(ctx context.Context, c *Claim, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM plugin_requests`+fenced, c.ID, c.Owner, c.Attempts).Scan(&n); err != nil {
			return fmt.Errorf("fail request: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("fail request: %w", ErrLeaseLost)
		}
		return failTx(ctx, tx, c.ID, reason, nowMillis())
	})
}

func failTx(ctx context.Context, tx *sql.Tx, id int64, reason string, now int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE plugin_requests SET state = $1, failure_reason = $2, lease_owner = '', lease_until = 0, updated_at = $3,
		payload = '' WHERE id = $4`, RequestFailed, reason, now, id); err != nil {
		return fmt.Errorf("fail request: %w", err)
	}
	return settleProjects(ctx, tx, id, "", now)
}

// settleProjects recomputes in_progress of a request's projects once it
// left the queue, and sets their last process when process is not "".
func settleProjects(ctx context.Context, tx *sql.Tx, requestID int64, process string, now int64) error {
	set := `in_progress = EXISTS (SELECT 1 FROM plugin_request_projects rp JOIN plugin_requests r ON r.id = rp.request_id
		WHERE rp.project_id = projects.id AND ` + activeRequest + ` AND r.id <> $1), state_at = $2`
	args := []any{requestID, now}
	if process != "" {
		set += `, last_process = $3`
		args = append(args, process)
	}
	_, err := tx.ExecContext(ctx, `UPDATE projects SET `+set+` WHERE id IN (SELECT project_id FROM plugin_request_projects WHERE request_id = $1)`, args...)
	if err != nil {
		return fmt.Errorf("settle projects: %w", err)
	}
	return nil
}

// RequestFailure returns the state and failure reason of a request.
func (s *Store) RequestFailure(ctx context.Context, token string) (state, reason string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT state, failure_reason FROM plugin_requests WHERE token = $1`, token).Scan(&state, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("request failure: %w", err)
	}
	return state, reason, nil
}

// LoadProjectStateTx loads a project's inventory once: its rows, edges and
// source files, and the identity of each of its libraries.
func (s *Store) LoadProjectStateTx(ctx context.Context, tx *sql.Tx, projectID int64) (*inventory.State, map[string]int64, error) {
	st := inventory.NewState()
	known := map[string]int64{}
	rows, err := tx.QueryContext(ctx, `SELECT pl.library_id, pl.is_root, pl.scope, pl.match_type, pl.system_path, l.identity
		FROM project_libraries pl JOIN libraries l ON l.id = pl.library_id WHERE pl.project_id = $1`, projectID)
	if err != nil {
		return nil, nil, fmt.Errorf("load project libraries: %w", err)
	}
	for rows.Next() {
		var r inventory.Row
		var identity string
		if err := rows.Scan(&r.LibraryID, &r.Root, &r.Scope, &r.MatchType, &r.SystemPath, &identity); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("load project libraries: %w", err)
		}
		st.Rows[r.LibraryID] = r
		known[identity] = r.LibraryID
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load project libraries: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT parent_id, child_id FROM library_edges WHERE project_id = $1`, projectID)
	if err != nil {
		return nil, nil, fmt.Errorf("load project edges: %w", err)
	}
	for rows.Next() {
		var e inventory.Edge
		if err := rows.Scan(&e.Parent, &e.Child); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("load project edges: %w", err)
		}
		st.Edges[e] = struct{}{}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load project edges: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT library_id, sha1, name, path FROM source_files WHERE project_id = $1`, projectID)
	if err != nil {
		return nil, nil, fmt.Errorf("load source files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f inventory.FileRow
		if err := rows.Scan(&f.LibraryID, &f.Sha1, &f.Name, &f.Path); err != nil {
			return nil, nil, fmt.Errorf("load source files: %w", err)
		}
		st.AddFile(f)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load source files: %w", err)
	}
	return st, known, nil
}

// maxParams keeps every statement under SQLite's 32766 bound variables (and
// PostgreSQL's 65535).
const maxParams = 30000

// maxBatchRows caps the rows of one multi-row statement.
const maxBatchRows = 2000

// ResolveLibrariesTx returns the library ID of each reported library (ids[i]
// for libs[i]): from known (the project's own libraries by identity), else
// the organization's existing library of that identity, else a new library
// with a new keyUuid. Lookups and inserts run in batches.
func (s *Store) ResolveLibrariesTx(ctx context.Context, tx *sql.Tx, orgID int64, libs []inventory.Reported, known map[string]int64) ([]int64, error) {
	ids := make([]int64, len(libs))
	byIdentity := make(map[string]int64, len(libs))
	var missing []int
	for i := range libs {
		if id, ok := known[libs[i].Identity]; ok {
			ids[i] = id
			continue
		}
		missing = append(missing, i)
	}
	if len(missing) == 0 {
		return ids, nil
	}
	lookup := func(idx []int) error {
		for start := 0; start < len(idx); start += maxBatchRows {
			end := min(start+maxBatchRows, len(idx))
			args := []any{orgID}
			for _, i := range idx[start:end] {
				args = append(args, libs[i].Identity)
			}
			q := s.cachedSQL("liblookup", end-start, func(n int) string {
				return `SELECT id, identity FROM libraries WHERE org_id = ? AND identity IN (` + inList(n) + `)`
			})
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("look up libraries: %w", err)
			}
			for rows.Next() {
				var id int64
				var identity string
				if err := rows.Scan(&id, &identity); err != nil {
					rows.Close()
					return fmt.Errorf("look up libraries: %w", err)
				}
				byIdentity[identity] = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("look up libraries: %w", err)
			}
		}
		return nil
	}
	if err := lookup(missing); err != nil {
		return nil, err
	}
	var create []int
	for _, i := range missing {
		if _, ok := byIdentity[libs[i].Identity]; !ok {
			create = append(create, i)
		}
	}
	if len(create) > 0 {
		// New libraries in identity order, with their new keyUuids sorted:
		// both unique indexes then take their inserts in key order.
		slices.SortFunc(create, func(a, b int) int { return strings.Compare(libs[a].Identity, libs[b].Identity) })
		uuids := make([]string, len(create))
		for i := range uuids {
			uuids[i] = auth.NewUUID()
		}
		slices.Sort(uuids)
		const cols = 15
		now := nowMillis()
		per := min(maxBatchRows, maxParams/cols)
		for start := 0; start < len(create); start += per {
			end := min(start+per, len(create))
			args := make([]any, 0, cols*(end-start))
			for k, i := range create[start:end] {
				l := &libs[i]
				lic := "[]"
				if len(l.Licenses) > 0 {
					b, err := json.Marshal(l.Licenses)
					if err != nil {
						return nil, fmt.Errorf("encode licenses: %w", err)
					}
					lic = string(b)
				}
				args = append(args, orgID, uuids[start+k], l.Identity, l.Filename, l.Name, l.GroupID, l.ArtifactID, l.Version, l.Sha1,
					l.Type, l.Classifier, l.Extension, l.Purl, lic, now)
			}
			q := s.cachedSQL("libins", end-start, func(n int) string {
				return `INSERT INTO libraries (org_id, key_uuid, identity, filename, name, group_id, artifact_id, version, sha1, lib_type,
					classifier, extension, purl, licenses, created_at) VALUES ` + valuesRows(n, cols) +
					` ON CONFLICT (org_id, identity) DO NOTHING RETURNING id, identity`
			})
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, fmt.Errorf("insert libraries: %w", err)
			}
			for rows.Next() {
				var id int64
				var identity string
				if err := rows.Scan(&id, &identity); err != nil {
					rows.Close()
					return nil, fmt.Errorf("insert libraries: %w", err)
				}
				byIdentity[identity] = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("insert libraries: %w", err)
			}
		}
		// A concurrent writer (another server on PostgreSQL) may have
		// created some of them first: look those up.
		var raced []int
		for _, i := range create {
			if _, ok := byIdentity[libs[i].Identity]; !ok {
				raced = append(raced, i)
			}
		}
		if len(raced) > 0 {
			if err := lookup(raced); err != nil {
				return nil, err
			}
		}
	}
	for _, i := range missing {
		id, ok := byIdentity[libs[i].Identity]
		if !ok {
			return nil, fmt.Errorf("resolve library %q: not created", libs[i].Identity)
		}
		ids[i] = id
	}
	return ids, nil
}

// ApplyChangesTx writes a project's reconciled inventory changes in bulk.
func (s *Store) ApplyChangesTx(ctx context.Context, tx *sql.Tx, projectID int64, c *inventory.Changes) error {
	head := []any{projectID}
	if err := s.execBatches(ctx, tx, "pldel", head, len(c.DeleteRows), 1, func(n int) string {
		return `DELETE FROM project_libraries WHERE project_id = ? AND library_id IN (` + inList(n) + `)`
	}, func(args []any, i int) []any { return append(args, c.DeleteRows[i]) }); err != nil {
		return fmt.Errorf("delete project libraries: %w", err)
	}
	if err := s.execBatches(ctx, tx, "edel", head, len(c.DeleteEdges), 2, func(n int) string {
		return `DELETE FROM library_edges WHERE project_id = ? AND (parent_id, child_id) IN (VALUES ` + castRows(n, []string{"BIGINT", "BIGINT"}) + `)`
	}, func(args []any, i int) []any { return append(args, c.DeleteEdges[i].Parent, c.DeleteEdges[i].Child) }); err != nil {
		return fmt.Errorf("delete edges: %w", err)
	}
	if err := s.execBatches(ctx, tx, "sfdel", head, len(c.DeleteFiles), 3, func(n int) string {
		return `DELETE FROM source_files WHERE project_id = ? AND (library_id, sha1, path) IN (VALUES ` + castRows(n, []string{"BIGINT", "TEXT", "TEXT"}) + `)`
	}, func(args []any, i int) []any {
		f := &c.DeleteFiles[i]
		return append(args, f.LibraryID, f.Sha1, f.Path)
	}); err != nil {
		return fmt.Errorf("delete source files: %w", err)
	}
	if err := s.execBatches(ctx, tx, "plins", nil, len(c.InsertRows), 6, func(n int) string {
		return `INSERT INTO project_libraries (project_id, library_id, is_root, scope, match_type, system_path) VALUES ` + valuesRows(n, 6)
	}, func(args []any, i int) []any {
		r := &c.InsertRows[i]
		return append(args, projectID, r.LibraryID, r.Root, r.Scope, r.MatchType, r.SystemPath)
	}); err != nil {
		return fmt.Errorf("insert project libraries: %w", err)
	}
	if err := s.execBatches(ctx, tx, "eins", nil, len(c.InsertEdges), 3, func(n int) string {
		return `INSERT INTO library_edges (project_id, parent_id, child_id) VALUES ` + valuesRows(n, 3)
	}, func(args []any, i int) []any {
		return append(args, projectID, c.InsertEdges[i].Parent, c.InsertEdges[i].Child)
	}); err != nil {
		return fmt.Errorf("insert edges: %w", err)
	}
	if err := s.execBatches(ctx, tx, "sfins", nil, len(c.InsertFiles), 5, func(n int) string {
		return `INSERT INTO source_files (project_id, library_id, sha1, name, path) VALUES ` + valuesRows(n, 5)
	}, func(args []any, i int) []any {
		f := &c.InsertFiles[i]
		return append(args, projectID, f.LibraryID, f.Sha1, f.Name, f.Path)
	}); err != nil {
		return fmt.Errorf("insert source files: %w", err)
	}
	return nil
}

// DeleteUnusedLibrariesTx removes those of an organization's given
// libraries (IDs of that organization) that no project has any more.
func (s *Store) DeleteUnusedLibrariesTx(ctx context.Context, tx *sql.Tx, orgID int64, libraryIDs []int64) error {
	// On PostgreSQL, lock the candidates first, skipping those another
	// transaction holds: a library some transaction is adding a reference
	// to (its foreign key check holds a share lock on the row) is in use.
	// The DELETE below is a new statement whose snapshot sees every
	// reference committed before the locks were taken, and no reference can
	// be added to a locked library until this transaction ends. Without
	// this, the DELETE judges "unused" by a snapshot taken before another
	// server's transaction committed a new reference, and ON DELETE CASCADE
	// removes that reference with the library.
	if lock := s.dialect.skipLocked(); lock != "" {
		ids := slices.Clone(libraryIDs)
		slices.Sort(ids)
		var locked []int64
		for start := 0; start < len(ids); start += maxBatchRows {
			end := min(start+maxBatchRows, len(ids))
			args := []any{orgID}
			for _, id := range ids[start:end] {
				args = append(args, id)
			}
			rows, err := tx.QueryContext(ctx, s.bind(`SELECT id FROM libraries WHERE org_id = ? AND id IN (`+inList(end-start)+`) ORDER BY id`)+lock, args...)
			if err != nil {
				return fmt.Errorf("lock unused libraries: %w", err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return fmt.Errorf("lock unused libraries: %w", err)
				}
				locked = append(locked, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("lock unused libraries: %w", err)
			}
		}
		libraryIDs = locked
	}
	err := s.execBatches(ctx, tx, "libdel", nil, len(libraryIDs), 1, func(n int) string {
		// By id only: with org_id in the condition SQLite walks every
		// library of the organization through the (org_id, identity) index.
		return `DELETE FROM libraries WHERE id IN (` + inList(n) + `)
			AND NOT EXISTS (SELECT 1 FROM project_libraries pl WHERE pl.library_id = libraries.id)`
	}, func(args []any, i int) []any { return append(args, libraryIDs[i]) })
	if err != nil {
		return fmt.Errorf("delete unused libraries: %w", err)
	}
	return nil
}

// Vitals are what a processed update records on its project.
type Vitals struct {
	PluginName   string
	UploadedBy   string
	RequestToken string
	ScanComment  string
}

// MarkProjectUpdatedTx records that a project's inventory was stored by a
// request: its last process (UPDATE or REMOVE) and its vitals.
func (s *Store) MarkProjectUpdatedTx(ctx context.Context, tx *sql.Tx, projectID int64, process string, v Vitals) error {
	now := nowMillis()
	// updated_at only grows, by at least 1 ms per stored update, whatever
	// the clocks of the servers that store them: it is the version the API's
	// response cache keys a project's inventory by, so a value must never
	// come back.
	_, err := tx.ExecContext(ctx, `UPDATE projects SET last_process = $1, state_at = $2,
		updated_at = CASE WHEN $2 > updated_at THEN $2 ELSE updated_at + 1 END, plugin_name = $3, uploaded_by = $4,
		last_request_token = $5, last_scan_comment = $6 WHERE id = $7`, process, now, v.PluginName, v.UploadedBy, v.RequestToken, v.ScanComment, projectID)
	if err != nil {
		return fmt.Errorf("mark project updated: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE products SET updated_at = $1 WHERE id = (SELECT product_id FROM projects WHERE id = $2)`, now, projectID); err != nil {
		return fmt.Errorf("touch product: %w", err)
	}
	return nil
}

// MarkRequestUpdatedTx moves a claimed request to UPDATED (its inventory
// is stored), or fails with ErrLeaseLost when the claim no longer holds.
func (s *Store) MarkRequestUpdatedTx(ctx context.Context, tx *sql.Tx, c *Claim) error {
	res, err := tx.ExecContext(ctx, `UPDATE plugin_requests SET state = $4, updated_at = $5`+fenced, c.ID, c.Owner, c.Attempts, RequestUpdated, nowMillis())
	return checkFenced(res, err, "mark request updated")
}

// FinishRequestTx moves a claimed request to FINISHED, settles its
// projects (last process UPDATE_ALERTS) and returns the projects whose
// setup this completes: those that had never finished an update before.
func (s *Store) FinishRequestTx(ctx context.Context, tx *sql.Tx, c *Claim) ([]Project, error) {
	now := nowMillis()
	res, err := tx.ExecContext(ctx, `UPDATE plugin_requests SET state = $4, updated_at = $5, lease_owner = '', lease_until = 0, payload = ''`+fenced,
		c.ID, c.Owner, c.Attempts, RequestFinished, now)
	if err := checkFenced(res, err, "finish request"); err != nil {
		return nil, err
	}
	if err := settleProjects(ctx, tx, c.ID, ProcessUpdateAlerts, now); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+projectColumns+projectFrom+`WHERE p.setup_at = 0
		AND p.id IN (SELECT project_id FROM plugin_request_projects WHERE request_id = $1) ORDER BY p.id`, c.ID)
	if err != nil {
		return nil, fmt.Errorf("find new projects: %w", err)
	}
	var out []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("find new projects: %w", err)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find new projects: %w", err)
	}
	if len(out) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET setup_at = $1 WHERE setup_at = 0
			AND id IN (SELECT project_id FROM plugin_request_projects WHERE request_id = $2)`, now, c.ID); err != nil {
			return nil, fmt.Errorf("mark projects set up: %w", err)
		}
	}
	return out, nil
}

// ProjectLibraryCountTx counts a project's libraries.
func (s *Store) ProjectLibraryCountTx(ctx context.Context, tx *sql.Tx, projectID int64) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_libraries WHERE project_id = $1`, projectID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count project libraries: %w", err)
	}
	return n, nil
}

// Bulk statements are built with "?" placeholders, each parameter used
// once in text order, and numbered $1, $2, ... for PostgreSQL by bind.
// SQLite gets them as plain "?": its numbered and named parameters ($N,
// ?N) are looked up by a linear scan per parameter, which makes binding a
// statement of thousands of parameters quadratic.

// bind turns a statement written with "?" placeholders into the backend's.
func (s *Store) bind(q string) string {
	if s.dialect.name() == "sqlite" {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + len(q)/4)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// execBatches runs a statement over n rows of per parameters each, in
// batches that stay under the bound-variable limit. head are the
// statement's leading parameters; build(k) returns the statement for k rows
// (with "?" placeholders); fill appends row i's parameters.
func (s *Store) execBatches(ctx context.Context, tx *sql.Tx, key string, head []any, n, per int, build func(k int) string, fill func(args []any, i int) []any) error {
	if n == 0 {
		return nil
	}
	batch := min(maxBatchRows, (maxParams-len(head))/per)
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, len(head)+per*min(batch, n))
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		args = append(args[:0], head...)
		for i := start; i < end; i++ {
			args = fill(args, i)
		}
		q := s.cachedSQL(key, end-start, build)
		var err error
		if end-start == batch && n > batch {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, q); err != nil {
					return err
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, q, args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var sqlCache sync.Map // "backend/name/rows" → statement text

// cachedSQL returns the statement for rows rows. Only full batches and
// small ones are kept: remainders of every size would grow the cache
// without bound.
func (s *Store) cachedSQL(key string, rows int, build func(int) string) string {
	if rows != maxBatchRows && rows > 16 {
		return s.bind(build(rows))
	}
	k := s.dialect.name() + "/" + key + "/" + strconv.Itoa(rows)
	if q, ok := sqlCache.Load(k); ok {
		return q.(string)
	}
	q := s.bind(build(rows))
	sqlCache.Store(k, q)
	return q
}

// inList returns "?, ?, ..." for n parameters.
func inList(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// valuesRows returns "(?, ?), (?, ?)" for n rows of cols parameters.
func valuesRows(n, cols int) string {
	row := "(" + inList(cols) + ")"
	var b strings.Builder
	b.Grow(n * (len(row) + 2))
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// castRows returns "(CAST(? AS T1), ...), (...)" for n rows: typed, so
// PostgreSQL compares them with the columns.
func castRows(n int, types []string) string {
	parts := make([]string, len(types))
	for j, t := range types {
		parts[j] = "CAST(? AS " + t + ")"
	}
	row := "(" + strings.Join(parts, ", ") + ")"
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}
