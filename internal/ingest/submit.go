// Package ingest is the inventory pipeline: it queues inventory updates
// (from /agent and from SBOM uploads) durably in the database and processes
// them asynchronously into projects' inventories.
package ingest

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/inventory"
)

// Update types of an agent UPDATE request.
const (
	Override = "OVERRIDE"
	Append   = "APPEND"
	Remove   = "REMOVE"
	SoftRun  = "SOFT_RUN"
)

// Submission is one inventory update to queue, however it arrived.
type Submission struct {
	Principal      *auth.Principal
	OrgID          int64
	Product        string // product name or token
	ProductVersion string
	ProjectToken   string // a top-level projectToken form field, optional
	UpdateType     string // Override (default), Append, Remove or SoftRun
	Projects       []inventory.ProjectInfo
	Source         string // "agent" or "sbom"
	PluginName     string // what the vitals show as pluginName, e.g. "fs-agent 2.3.9"
	RequesterEmail string
	ScanComment    string
}

// ProjectDetails is one entry of projectNamesToDetails.
type ProjectDetails struct {
	ProjectName  string `json:"projectName"`
	ProjectID    int64  `json:"projectId"`
	ProjectToken string `json:"projectToken"`
}

// Result is what a queued submission answers (the agent envelope's data).
type Result struct {
	Organization          string                    `json:"organization"`
	CreatedProjects       []string                  `json:"createdProjects"`
	UpdatedProjects       []string                  `json:"updatedProjects"`
	ProjectNamesToIDs     map[string]int64          `json:"projectNamesToIds"`
	ProjectNamesToDetails map[string]ProjectDetails `json:"projectNamesToDetails"`
	RequestToken          string                    `json:"requestToken"`
}

// RejectError is a submission refused before anything was stored. Message
// is one of the protocol's constants ("Illegal arguments", "Invalid User
// Key", "Invalid diff", ...); Detail says more (the envelope's data).
type RejectError struct {
	Message string
	Detail  string
	// NotAllowed marks a refusal for lack of permission.
	NotAllowed bool
}

func (e *RejectError) Error() string { return e.Message + ": " + e.Detail }

// IsReject reports whether err is a RejectError and returns it.
func IsReject(err error) (*RejectError, bool) {
	var r *RejectError
	ok := errors.As(err, &r)
	return r, ok
}

// SetupEvent is a project's setup completing: its first inventory update
// reached FINISHED.
type SetupEvent struct {
	OrgID          int64
	OrgName        string
	ProductID      int64
	ProductName    string
	ProjectID      int64
	ProjectName    string
	ProjectToken   string
	Libraries      int
	RequestToken   string
	RequesterEmail string
	FinishedAt     time.Time
}

// SetupHook is told of setup completions inside the transaction that marks
// the request FINISHED, so what it records (the notification outbox) commits
// or rolls back with it.
type SetupHook interface {
	ProjectSetupCompleted(ctx context.Context, tx *sql.Tx, ev SetupEvent) error
}
