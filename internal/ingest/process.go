package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/store"
)

// Run processes queued requests until ctx is cancelled, then returns nil. A
// request being processed when ctx ends is rolled back and released to the
// queue, so the next processor (after a restart) takes it up at once. A
// request whose attempt failed, or whose processor died (its lease
// expired), is claimed again, up to Options.MaxAttempts claims, and then
// marked FAILED with the reason.
func (p *Pipeline) Run(ctx context.Context) error {
	poll := time.NewTicker(p.opts.Poll)
	defer poll.Stop()
	var pruned time.Time
	for {
		if time.Since(pruned) >= time.Hour {
			pruned = time.Now()
			p.prune(ctx)
		}
		for ctx.Err() == nil {
			did, err := p.processNext(ctx)
			if err != nil {
				p.log.ErrorContext(ctx, "ingest: claiming a request failed", "err", err)
				break
			}
			if !did {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-poll.C:
		}
	}
}

// processNext claims and processes one request; false when none waits.
func (p *Pipeline) processNext(ctx context.Context) (bool, error) {
	if ctx.Err() != nil {
		return false, nil
	}
	// The claim is not cancelled by a stop: cancelled after the database
	// committed it, it would leave a lease nothing releases until it
	// expires. A stop after the claim ends process, which releases it.
	claimCtx, cancelClaim := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	c, err := p.store.ClaimRequest(claimCtx, p.opts.Owner, p.opts.Lease, p.opts.MaxAttempts)
	cancelClaim()
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	if c == nil {
		return false, nil
	}
	start := time.Now()
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		p.heartbeat(hbCtx, c)
	}()
	err = p.process(ctx, c)
	stopHeartbeat()
	<-hbDone
	switch {
	case err == nil:
		p.log.InfoContext(ctx, "ingest: request finished", "requestToken", c.Token, "attempt", c.Attempts, "duration", time.Since(start))
		return true, nil
	case ctx.Err() != nil:
		// Shutting down: give the request back to the queue at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := p.store.ReleaseRequest(rctx, c); rerr != nil {
			p.log.WarnContext(ctx, "ingest: releasing a request on shutdown failed; its lease will expire", "requestToken", c.Token, "err", rerr)
		} else {
			p.log.InfoContext(ctx, "ingest: request released on shutdown", "requestToken", c.Token)
		}
		return false, nil
	case errors.Is(err, store.ErrLeaseLost):
		p.log.WarnContext(ctx, "ingest: request taken over by another processor; nothing committed", "requestToken", c.Token)
		return true, nil
	case c.Attempts < p.opts.MaxAttempts:
		// Nothing was committed; the error may be passing (a busy
		// database): try again, up to MaxAttempts claims.
		p.log.WarnContext(ctx, "ingest: request attempt failed; retrying", "requestToken", c.Token, "attempt", c.Attempts, "err", err)
		if rerr := p.store.RetryRequest(ctx, c); rerr != nil && !errors.Is(rerr, store.ErrLeaseLost) {
			return true, fmt.Errorf("requeue request %s: %w", c.Token, rerr)
		}
		return true, nil
	default:
		p.log.ErrorContext(ctx, "ingest: request failed", "requestToken", c.Token, "attempts", c.Attempts, "err", err)
		if ferr := p.store.FailRequest(ctx, c, err.Error()); ferr != nil && !errors.Is(ferr, store.ErrLeaseLost) {
			return true, fmt.Errorf("mark request %s failed: %w", c.Token, ferr)
		}
		return true, nil
	}
}

func (p *Pipeline) heartbeat(ctx context.Context, c *store.Claim) {
	t := time.NewTicker(max(p.opts.Lease/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.store.RenewLease(ctx, c, p.opts.Lease); err != nil && ctx.Err() == nil {
				p.log.WarnContext(ctx, "ingest: renewing a lease failed", "requestToken", c.Token, "err", err)
			}
		}
	}
}

func (p *Pipeline) hook(ctx context.Context, stage string, c *store.Claim) error {
	if p.opts.Hook == nil {
		return nil
	}
	return p.opts.Hook(ctx, stage, c.Token)
}

// process stores a claimed request's inventories (one transaction: UPDATED)
// and then completes it (a second: FINISHED, with the setup hook).
func (p *Pipeline) process(ctx context.Context, c *store.Claim) error {
	pl := p.recent.take(c.Token)
	if pl == nil {
		raw, err := p.store.RequestPayload(ctx, c.ID)
		if err != nil {
			return err
		}
		if pl, err = decodePayload(raw); err != nil {
			return fmt.Errorf("stored payload of request %s: %w", c.Token, err)
		}
	}
	if err := p.hook(ctx, "claimed", c); err != nil {
		return err
	}
	counts := map[int64]int{}
	if c.State == store.RequestInProgress {
		err := p.store.Tx(ctx, func(tx *sql.Tx) error {
			var left []int64
			for i, pid := range c.Projects {
				if pid == 0 || i >= len(pl.Projects) {
					continue // the project was deleted since
				}
				n, gone, err := p.storeProject(ctx, tx, c, pid, pl, &pl.Projects[i])
				if err != nil {
					return err
				}
				counts[pid] = n
				left = append(left, gone...)
			}
			if err := p.store.DeleteUnusedLibrariesTx(ctx, tx, c.OrgID, left); err != nil {
				return err
			}
			return p.store.MarkRequestUpdatedTx(ctx, tx, c)
		})
		if err != nil {
			return err
		}
		if err := p.hook(ctx, "updated", c); err != nil {
			return err
		}
	}
	var org store.Org
	if p.opts.SetupHook != nil {
		var err error
		if org, err = p.store.OrgByID(ctx, c.OrgID); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
	}
	return p.store.Tx(ctx, func(tx *sql.Tx) error {
		setUp, err := p.store.FinishRequestTx(ctx, tx, c)
		if err != nil {
			return err
		}
		if p.opts.SetupHook == nil {
			return nil
		}
		now := time.Now().UTC()
		for _, proj := range setUp {
			n, ok := counts[proj.ID]
			if !ok {
				if n, err = p.store.ProjectLibraryCountTx(ctx, tx, proj.ID); err != nil {
					return err
				}
			}
			ev := SetupEvent{OrgID: c.OrgID, OrgName: org.Name, ProductID: proj.ProductID, ProductName: proj.ProductName,
				ProjectID: proj.ID, ProjectName: proj.Name, ProjectToken: proj.Token, Libraries: n, RequestToken: c.Token,
				RequesterEmail: c.RequesterEmail, FinishedAt: now}
			if err := p.opts.SetupHook.ProjectSetupCompleted(ctx, tx, ev); err != nil {
				return fmt.Errorf("setup hook for project %s: %w", proj.Name, err)
			}
		}
		return nil
	})
}

// storeProject reconciles one project's inventory with what the request
// reports: load once, reconcile in memory, write the changes in bulk. It
// returns the project's library count afterwards and the libraries that
// left it.
func (p *Pipeline) storeProject(ctx context.Context, tx *sql.Tx, c *store.Claim, projectID int64, pl *payload, g *inventory.Graph) (int, []int64, error) {
	if _, err := p.store.ProjectByIDTx(ctx, tx, projectID); errors.Is(err, store.ErrNotFound) {
		return 0, nil, nil
	} else if err != nil {
		return 0, nil, err
	}
	cur, known, err := p.store.LoadProjectStateTx(ctx, tx, projectID)
	if err != nil {
		return 0, nil, err
	}
	if err := p.hook(ctx, "loaded", c); err != nil {
		return 0, nil, err
	}
	var reported *inventory.State
	process := store.ProcessUpdate
	mode := c.UpdateType
	if mode == Remove {
		process = store.ProcessRemove
		// Only the project's own libraries can leave it: nothing unknown is
		// created just to be removed.
		reported = inventory.NewState()
		for i := range g.Libs {
			if id, ok := known[g.Libs[i].Identity]; ok {
				reported.Rows[id] = inventory.Row{LibraryID: id}
			}
		}
	} else {
		ids, err := p.store.ResolveLibrariesTx(ctx, tx, c.OrgID, g.Libs, known)
		if err != nil {
			return 0, nil, err
		}
		reported = inventory.Wanted(g, ids)
	}
	ch := inventory.Reconcile(cur, reported, mode)
	if err := p.hook(ctx, "reconciled", c); err != nil {
		return 0, nil, err
	}
	if err := p.store.ApplyChangesTx(ctx, tx, projectID, &ch); err != nil {
		return 0, nil, err
	}
	err = p.store.MarkProjectUpdatedTx(ctx, tx, projectID, process, store.Vitals{PluginName: pl.PluginName, UploadedBy: c.UploadedBy,
		RequestToken: c.Token, ScanComment: pl.ScanComment})
	if err != nil {
		return 0, nil, err
	}
	return ch.Libraries, ch.Left, nil
}

// prune deletes ended requests older than the retention, in slices so as
// not to hold the database long.
func (p *Pipeline) prune(ctx context.Context) {
	before := time.Now().Add(-p.opts.Retention)
	for ctx.Err() == nil {
		n, err := p.store.PruneRequests(ctx, before, 1000)
		if err != nil {
			if ctx.Err() == nil {
				p.log.WarnContext(ctx, "ingest: pruning old requests failed", "err", err)
			}
			return
		}
		if n > 0 {
			p.log.InfoContext(ctx, "ingest: pruned old requests", "count", n)
		}
		if n < 1000 {
			return
		}
	}
}
