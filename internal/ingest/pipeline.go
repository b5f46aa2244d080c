package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

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
	// Limits bound what one submission may carry (defaults: DefaultLimits).
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
}

// New returns a pipeline over st.
func New(st *store.Store, opts Options) *Pipeline {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Limits == (inventory.Limits{}) {
		opts.Limits = inventory.DefaultLimits
	}
	if opts.Lease <= 0 {
		opts.Lease = 60 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
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
	return nil, errors.New("not implemented yet")
}

// Submit validates a submission and queues it durably: in one transaction it
// creates the products and projects it names, saves the projects' tags and
// inserts the plugin request with its payload. It returns once that
// transaction has committed; processing happens in Run. A refusal is a
// *RejectError and leaves the store unchanged. SoftRun submissions are
// validated and answered without storing anything.
func (p *Pipeline) Submit(ctx context.Context, sub Submission) (Result, error) {
	return Result{}, errors.New("not implemented yet")
}

// Run processes queued requests until ctx is cancelled, then returns nil. A
// request being processed when ctx ends is rolled back and released to the
// queue, so the next processor (after a restart) takes it up at once.
func (p *Pipeline) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
