package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/store"
)

// Options tune a Pipeline. The zero value is the production default.
type Options struct {
	Logger *slog.Logger
	// SetupHook, when set, is told of each project whose first update
	// reached FINISHED, inside the transaction that marks it so.
	SetupHook SetupHook
	// Limits bound what one submission may carry; zero fields take
	// inventory.DefaultLimits.
	Limits inventory.Limits
	// Lease is how long a processor holds a claimed request before another
	// may take it over (default 60s); the processor renews it while it works.
	Lease time.Duration
	// Poll is how often an idle worker looks for requests queued by other
	// processes or left by a dead processor (default 1s).
	Poll time.Duration
	// MaxAttempts is how many times a request is claimed before one whose
	// processor died is marked FAILED (default 3).
	MaxAttempts int
	// Owner names this processor in request leases (default: random).
	Owner string
	// Retention is how long ended requests (FINISHED, FAILED, SKIPPED) are
	// kept for getRequestState (default 30 days); the worker deletes older
	// ones once an hour.
	Retention time.Duration
	// Hook, for tests, runs at each processing stage ("claimed", "loaded",
	// "reconciled", "updated"); an error aborts the attempt.
	Hook func(ctx context.Context, stage, requestToken string) error
}

// Pipeline queues inventory submissions and processes them.
type Pipeline struct {
	store *store.Store
	opts  Options
	log   *slog.Logger
	wake  chan struct{}
	// recent keeps the payloads of the last requests this process queued,
	// so its worker need not decode them again from the database.
	recent recentPayloads
}

// recentPayloads is a small FIFO of decoded payloads by request token,
// bounded in count and in libraries held.
type recentPayloads struct {
	mu    sync.Mutex
	byTok map[string]*payload
	order []string
	libs  int
}

const (
	maxRecentPayloads = 16
	maxRecentLibs     = 100_000
)

func payloadLibs(pl *payload) int {
	n := 0
	for i := range pl.Projects {
		n += len(pl.Projects[i].Libs) + len(pl.Projects[i].Edges)/2
	}
	return n
}

func (r *recentPayloads) put(token string, pl *payload) {
	n := payloadLibs(pl)
	if n > maxRecentLibs {
		return // decoded again from the database when processed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byTok == nil {
		r.byTok = map[string]*payload{}
	}
	for len(r.order) > 0 && (len(r.order) >= maxRecentPayloads || r.libs+n > maxRecentLibs) {
		r.libs -= payloadLibs(r.byTok[r.order[0]])
		delete(r.byTok, r.order[0])
		r.order = r.order[1:]
	}
	r.byTok[token] = pl
	r.order = append(r.order, token)
	r.libs += n
}

// take returns and forgets the payload of a request, if kept.
func (r *recentPayloads) take(token string) *payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	pl := r.byTok[token]
	if pl != nil {
		delete(r.byTok, token)
		r.order = slices.DeleteFunc(r.order, func(t string) bool { return t == token })
		r.libs -= payloadLibs(pl)
	}
	return pl
}

// New returns a pipeline over st.
func New(st *store.Store, opts Options) *Pipeline {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Limits.MaxLibraries <= 0 {
		opts.Limits.MaxLibraries = inventory.DefaultLimits.MaxLibraries
	}
	if opts.Limits.MaxDepth <= 0 {
		opts.Limits.MaxDepth = inventory.DefaultLimits.MaxDepth
	}
	if opts.Limits.MaxProjects <= 0 {
		opts.Limits.MaxProjects = inventory.DefaultLimits.MaxProjects
	}
	if opts.Lease <= 0 {
		opts.Lease = 60 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.Owner == "" {
		opts.Owner = "processor-" + auth.NewUUID()
	}
	return &Pipeline{store: st, opts: opts, log: opts.Logger, wake: make(chan struct{}, 1)}
}

// Authenticate resolves an organization token and a user key to the caller,
// as /agent and the SBOM upload endpoint need: a RejectError ("Illegal
// arguments" for a bad or inactive organization, "Invalid User Key" for a
// key that is missing, unknown or of another organization) or the principal.
func (p *Pipeline) Authenticate(ctx context.Context, orgToken, userKey string) (*auth.Principal, error) {
	if strings.TrimSpace(orgToken) == "" {
		return nil, &RejectError{Message: MsgIllegalArguments, Detail: "Missing org token"}
	}
	org, err := p.store.OrgByToken(ctx, orgToken)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &RejectError{Message: MsgIllegalArguments, Detail: "Bad org token"}
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !org.Active {
		return nil, &RejectError{Message: MsgIllegalArguments, Detail: "Organization is inactive"}
	}
	if len(userKey) != auth.KeyLength {
		return nil, &RejectError{Message: MsgInvalidUserKey, Detail: "Invalid user key"}
	}
	u, err := p.store.UserByKeyHash(ctx, auth.HashKey(userKey))
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.OrgID != org.ID) {
		return nil, &RejectError{Message: MsgInvalidUserKey, Detail: "Invalid user key"}
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return &auth.Principal{UserID: u.ID, OrgID: u.OrgID, Email: u.Email, Grants: u.Grants}, nil
}

// Messages of the protocol's envelope for refused requests.
const (
	MsgIllegalArguments = "Illegal arguments"
	MsgInvalidUserKey   = "Invalid User Key"
	MsgInvalidDiff      = "Invalid diff"
	MsgNotAllowed       = "User is not allowed to perform this action"
)

func illegal(format string, args ...any) *RejectError {
	return &RejectError{Message: MsgIllegalArguments, Detail: fmt.Sprintf(format, args...)}
}

func notAllowed(detail string) *RejectError {
	return &RejectError{Message: MsgIllegalArguments, Detail: MsgNotAllowed + ": " + detail, NotAllowed: true}
}

// payload is what a queued request stores: everything processing needs.
type payload struct {
	PluginName  string            `json:"pluginName,omitempty"`
	ScanComment string            `json:"scanComment,omitempty"`
	Projects    []inventory.Graph `json:"projects"`
}

// Limits on names and tags, as the JSON API has them (docs/api.md).
const (
	maxNameLen     = 255
	maxTagKeyLen   = 255
	maxTagValueLen = 1024
)

func checkText(field, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return illegal("Invalid value for %s: not valid UTF-8", field)
	case utf8.RuneCountInString(s) > max:
		return illegal("Invalid value for %s: longer than %d characters", field, max)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' }):
		return illegal("Invalid value for %s: contains control characters", field)
	}
	return nil
}

// projectPlan is one project of a submission, validated.
type projectPlan struct {
	name  string
	token string
	tags  [][2]string
	graph inventory.Graph
}

// plan validates a submission without touching the store.
func (p *Pipeline) plan(sub *Submission) (string, []projectPlan, error) {
	mode := strings.ToUpper(strings.TrimSpace(sub.UpdateType))
	if mode == "" {
		mode = Override
	}
	switch mode {
	case Override, Append, Remove, SoftRun:
	default:
		return "", nil, illegal("Unknown updateType %q (OVERRIDE, APPEND, REMOVE or SOFT_RUN)", sub.UpdateType)
	}
	if len(sub.Projects) == 0 {
		return "", nil, &RejectError{Message: MsgInvalidDiff, Detail: "The update names no project"}
	}
	if len(sub.Projects) > p.opts.Limits.MaxProjects {
		return "", nil, &RejectError{Message: MsgInvalidDiff, Detail: fmt.Sprintf("The update names more than %d projects", p.opts.Limits.MaxProjects)}
	}
	budget := &inventory.Budget{Limits: p.opts.Limits}
	plans := make([]projectPlan, 0, len(sub.Projects))
	seen := map[string]bool{}
	for i := range sub.Projects {
		info := &sub.Projects[i]
		var pp projectPlan
		if info.Coordinates != nil {
			pp.name = strings.TrimSpace(info.Coordinates.ArtifactID)
		}
		pp.token = strings.TrimSpace(info.ProjectToken)
		if pp.token == "" && len(sub.Projects) == 1 {
			pp.token = strings.TrimSpace(sub.ProjectToken)
		}
		if pp.name == "" && pp.token == "" {
			return "", nil, illegal("Project %d has neither coordinates.artifactId nor projectToken", i+1)
		}
		if err := checkText("project name", pp.name, maxNameLen); err != nil {
			return "", nil, err
		}
		key := "n:" + pp.name
		if pp.token != "" {
			key = "t:" + pp.token
		}
		if seen[key] {
			return "", nil, illegal("Project %s appears twice in the update", strings.TrimPrefix(strings.TrimPrefix(key, "n:"), "t:"))
		}
		seen[key] = true
		for _, t := range info.ProjectTags {
			k, v := strings.TrimSpace(t.TagKey), strings.TrimSpace(t.TagValue)
			if k == "" {
				return "", nil, illegal("Invalid value for tagKey: empty")
			}
			if err := checkText("tagKey", k, maxTagKeyLen); err != nil {
				return "", nil, err
			}
			if err := checkText("tagValue", v, maxTagValueLen); err != nil {
				return "", nil, err
			}
			// Tag keys become JSON keys in tag reads; clients take any
			// body containing these words for an error (as the JSON API).
			if strings.Contains(k, "errorCode") || strings.Contains(k, "errorMessage") {
				return "", nil, illegal("Invalid value for tagKey: %q is reserved", k)
			}
			pp.tags = append(pp.tags, [2]string{k, v})
		}
		g, err := inventory.Flatten(info.Dependencies, budget)
		if err != nil {
			var de *inventory.DiffError
			if errors.As(err, &de) {
				return "", nil, &RejectError{Message: MsgInvalidDiff, Detail: de.Detail}
			}
			return "", nil, err
		}
		pp.graph = g
		plans = append(plans, pp)
	}
	return mode, plans, nil
}

// Submit validates a submission and queues it durably: in one transaction it
// creates the products and projects it names, saves the projects' tags and
// inserts the plugin request with its payload. It returns once that
// transaction has committed; processing happens in Run. A refusal is a
// *RejectError and leaves the store unchanged. SoftRun submissions are
// validated and answered without storing anything.
//
// A request for a project that a processor is working on at that moment is
// recorded SKIPPED and not processed (the spec's rule); one for a project
// whose earlier request is only queued waits its turn.
func (p *Pipeline) Submit(ctx context.Context, sub Submission) (Result, error) {
	if sub.Principal == nil || sub.Principal.OrgID != sub.OrgID {
		return Result{}, &RejectError{Message: MsgInvalidUserKey, Detail: "Invalid user key"}
	}
	mode, plans, err := p.plan(&sub)
	if err != nil {
		return Result{}, err
	}
	org, err := p.store.OrgByID(ctx, sub.OrgID)
	if err != nil {
		return Result{}, fmt.Errorf("submit: %w", err)
	}
	res := Result{Organization: org.Name, CreatedProjects: []string{}, UpdatedProjects: []string{},
		ProjectNamesToIDs: map[string]int64{}, ProjectNamesToDetails: map[string]ProjectDetails{}, RequestToken: auth.NewKey()}
	var body []byte
	var pl payload
	if mode != SoftRun {
		pl = payload{PluginName: sub.PluginName, ScanComment: sub.ScanComment, Projects: make([]inventory.Graph, len(plans))}
		for i := range plans {
			pl.Projects[i] = plans[i].graph
		}
		if body, err = encodePayload(&pl); err != nil {
			return Result{}, fmt.Errorf("submit: %w", err)
		}
	}
	errSoftRun := errors.New("soft run")
	skipped := false
	err = p.store.Tx(ctx, func(tx *sql.Tx) error {
		// The store may run this again after a retryable error.
		res.CreatedProjects, res.UpdatedProjects = res.CreatedProjects[:0], res.UpdatedProjects[:0]
		clear(res.ProjectNamesToIDs)
		clear(res.ProjectNamesToDetails)
		ids, productID, err := p.resolve(ctx, tx, &sub, plans, &res)
		if err != nil {
			return err
		}
		if mode == SoftRun {
			return errSoftRun // roll back whatever resolving created
		}
		busy, err := p.store.ProjectsBusyTx(ctx, tx, ids, time.Now())
		if err != nil {
			return err
		}
		state := store.RequestInProgress
		if busy {
			state = store.RequestSkipped
		}
		skipped = busy
		_, err = p.store.InsertRequestTx(ctx, tx, store.NewRequest{OrgID: sub.OrgID, Token: res.RequestToken, ProductID: productID,
			ProjectIDs: ids, State: state, UpdateType: mode, Source: sub.Source, Payload: body,
			RequesterEmail: sub.RequesterEmail, UploadedBy: sub.Principal.Email})
		return err
	})
	if errors.Is(err, errSoftRun) {
		return softRunResult(res), nil
	}
	if err != nil {
		if _, ok := IsReject(err); ok {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("submit: %w", err)
	}
	if !skipped {
		p.recent.put(res.RequestToken, &pl)
		p.notify()
	}
	return res, nil
}

// softRunResult reports a soft run: projects it would create carry no ID.
func softRunResult(res Result) Result {
	for _, name := range res.CreatedProjects {
		delete(res.ProjectNamesToIDs, name)
		delete(res.ProjectNamesToDetails, name)
	}
	return res
}

// resolve finds or creates the submission's product and projects (checking
// the principal's rights), saves the projects' tags, and fills res.
func (p *Pipeline) resolve(ctx context.Context, tx *sql.Tx, sub *Submission, plans []projectPlan, res *Result) ([]int64, int64, error) {
	pr := sub.Principal
	var product *store.Product
	ref := strings.TrimSpace(sub.Product)
	needProduct := false
	for i := range plans {
		if plans[i].token == "" {
			needProduct = true
		}
	}
	if ref != "" {
		found, err := p.store.ProductByRefTx(ctx, tx, sub.OrgID, ref)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := checkText("product name", ref, maxNameLen); err != nil {
				return nil, 0, err
			}
			if !pr.CanCreateProducts() {
				return nil, 0, notAllowed("creating product " + ref)
			}
			if found, err = p.store.CreateProductTx(ctx, tx, sub.OrgID, ref); err != nil {
				return nil, 0, err
			}
		case err != nil:
			return nil, 0, err
		}
		product = &found
	} else if needProduct {
		return nil, 0, illegal("Missing product name or token")
	}
	ids := make([]int64, 0, len(plans))
	seen := map[int64]bool{}
	var productID int64
	if product != nil {
		productID = product.ID
	}
	for i := range plans {
		pp := &plans[i]
		var proj store.Project
		found, created := false, false
		if pp.token != "" {
			got, err := p.store.ProjectByTokenTx(ctx, tx, pp.token)
			switch {
			case err == nil && got.OrgID == sub.OrgID:
				proj, found = got, true
			case err == nil, errors.Is(err, store.ErrNotFound):
				if pp.name == "" || product == nil {
					return nil, 0, illegal("Invalid project token %s", pp.token)
				}
			default:
				return nil, 0, err
			}
		}
		if !found {
			if !pr.CanUpdateInventory(product.ID) {
				return nil, 0, notAllowed("updating product " + product.Name)
			}
			got, err := p.store.ProjectByNameTx(ctx, tx, product.ID, pp.name)
			switch {
			case err == nil:
				proj = got
			case errors.Is(err, store.ErrNotFound):
				if proj, err = p.store.CreateProjectTx(ctx, tx, *product, pp.name); err != nil {
					return nil, 0, err
				}
				created = true
			default:
				return nil, 0, err
			}
		}
		if !pr.CanUpdateInventory(proj.ProductID) {
			return nil, 0, notAllowed("updating project " + proj.Name)
		}
		if seen[proj.ID] {
			return nil, 0, illegal("Project %s appears twice in the update", proj.Name)
		}
		seen[proj.ID] = true
		if productID == 0 {
			productID = proj.ProductID
		}
		if created {
			res.CreatedProjects = append(res.CreatedProjects, proj.Name)
		} else {
			res.UpdatedProjects = append(res.UpdatedProjects, proj.Name)
		}
		res.ProjectNamesToIDs[proj.Name] = proj.ID
		res.ProjectNamesToDetails[proj.Name] = ProjectDetails{ProjectName: proj.Name, ProjectID: proj.ID, ProjectToken: proj.Token}
		if len(pp.tags) > 0 {
			if err := p.store.AddProjectTagsTx(ctx, tx, proj.ID, pp.tags); err != nil {
				return nil, 0, err
			}
		}
		ids = append(ids, proj.ID)
	}
	return ids, productID, nil
}

func (p *Pipeline) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
