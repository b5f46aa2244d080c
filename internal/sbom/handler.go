package sbom

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/inventory"
)

// Path is where the upload endpoint is served (POST only).
const Path = "/sbom"

// Request headers carrying the credentials. They are headers, not query
// parameters, so that they stay out of access logs and proxies' URLs.
const (
	HeaderOrgToken = "X-Org-Token"
	HeaderUserKey  = "X-User-Key"
)

// DefaultMaxBytes is the default limit on an upload's body (after gzip
// decoding, when the body is gzip-encoded).
const DefaultMaxBytes = 64 << 20

// DefaultMaxConcurrent is how many uploads are read and converted at once
// by default; further ones wait their turn.
const DefaultMaxConcurrent = 2

// Pipeline is what the endpoint needs of the ingestion pipeline
// (*ingest.Pipeline).
type Pipeline interface {
	Authenticate(ctx context.Context, orgToken, userKey string) (*auth.Principal, error)
	Submit(ctx context.Context, sub ingest.Submission) (ingest.Result, error)
}

// HandlerOptions tune the endpoint. The zero value is the default.
type HandlerOptions struct {
	Logger *slog.Logger
	// MaxBytes bounds a document's size (DefaultMaxBytes).
	MaxBytes int64
	// MaxConcurrent bounds the uploads read and converted at once
	// (DefaultMaxConcurrent): each holds its document and its conversion in
	// memory.
	MaxConcurrent int
	// Limits bound the conversion (defaults: the pipeline's defaults).
	Limits Limits
	// BodyTimeout bounds the time to receive a document
	// (DefaultBodyTimeout), so that slow senders cannot hold the
	// conversion slots.
	BodyTimeout time.Duration
}

// DefaultBodyTimeout is the default of HandlerOptions.BodyTimeout: 64 MiB
// at half a megabyte a second.
const DefaultBodyTimeout = 2 * time.Minute

// Handler serves POST /sbom: an SBOM upload, queued on the pipeline.
type Handler struct {
	pipeline Pipeline
	opts     HandlerOptions
	slots    chan struct{}
}

// NewHandler returns the upload endpoint over p.
func NewHandler(p Pipeline, opts HandlerOptions) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	opts.Limits = opts.Limits.withDefaults()
	return &Handler{pipeline: p, opts: opts, slots: make(chan struct{}, opts.MaxConcurrent)}
}

// Summary describes the document an upload carried.
type Summary struct {
	Format      string `json:"format"`
	SpecVersion string `json:"specVersion"`
	Name        string `json:"name,omitempty"`
	Version     string `json:"version,omitempty"`
	Bytes       int64  `json:"bytes"`
	Stats
}

// Response is the answer to an accepted upload: the pipeline's result (the
// same fields an agent's update answers, requestToken among them) and what
// the document held.
type Response struct {
	ingest.Result
	Project string  `json:"project"`
	SBOM    Summary `json:"sbom"`
}

// ErrorBody is the answer to a refused upload.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says why an upload was refused. Code is stable, Message is
// for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the endpoint beyond the document's own (CodeInvalid,
// CodeUnsupported, CodeTooLarge).
const (
	CodeBadRequest       = "invalid_request"
	CodeUnauthorized     = "invalid_credentials"
	CodeForbidden        = "not_allowed"
	CodeInvalidInventory = "invalid_inventory"
	CodeInternal         = "internal_error"
)

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.opts.Logger.InfoContext(r.Context(), "sbom upload refused", "status", status, "code", code, "message", msg)
	writeJSON(w, status, ErrorBody{ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP authenticates, reads the document within the size limit,
// converts it and queues it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	orgToken := strings.TrimSpace(r.Header.Get(HeaderOrgToken))
	userKey := strings.TrimSpace(r.Header.Get(HeaderUserKey))
	product := strings.TrimSpace(q.Get("product"))
	var missing []string
	if orgToken == "" {
		missing = append(missing, "header "+HeaderOrgToken)
	}
	if userKey == "" {
		missing = append(missing, "header "+HeaderUserKey)
	}
	if product == "" {
		missing = append(missing, "query parameter product")
	}
	if len(missing) > 0 {
		h.fail(w, r, http.StatusBadRequest, CodeBadRequest, "missing %s", strings.Join(missing, ", "))
		return
	}

	// Credentials first, so a stranger's body is never read.
	principal, err := h.pipeline.Authenticate(ctx, orgToken, userKey)
	if err != nil {
		h.rejected(w, r, err, http.StatusUnauthorized, CodeUnauthorized)
		return
	}

	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-ctx.Done():
		return
	}

	// Not every ResponseWriter supports deadlines; the server's does.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.opts.BodyTimeout))
	data, status, err := h.readBody(w, r)
	if err != nil {
		code := CodeBadRequest
		if status == http.StatusRequestEntityTooLarge {
			code = CodeTooLarge
		}
		h.fail(w, r, status, code, "%v", err)
		return
	}
	bom, err := Parse(ctx, data, h.opts.Limits)
	if err != nil {
		if e, ok := AsError(err); ok {
			status := http.StatusUnprocessableEntity
			if e.Code == CodeTooLarge {
				status = http.StatusRequestEntityTooLarge
			}
			h.fail(w, r, status, e.Code, "%s", e.Error())
			return
		}
		if ctx.Err() != nil {
			return // the client is gone
		}
		h.opts.Logger.ErrorContext(ctx, "sbom parse failed", "err", err)
		h.fail(w, r, http.StatusInternalServerError, CodeInternal, "the document could not be processed")
		return
	}
	size := int64(len(data))

	projectToken := strings.TrimSpace(q.Get("projectToken"))
	project := strings.TrimSpace(q.Get("project"))
	if project == "" && projectToken == "" {
		project = strings.TrimSpace(bom.Name)
	}
	if project == "" && projectToken == "" {
		h.fail(w, r, http.StatusBadRequest, CodeBadRequest, "missing query parameter project (the document names no subject to default to)")
		return
	}
	info := inventory.ProjectInfo{ProjectToken: projectToken, Dependencies: bom.Dependencies}
	if info.Dependencies == nil {
		info.Dependencies = []inventory.DependencyInfo{}
	}
	if project != "" {
		info.Coordinates = &inventory.Coordinates{ArtifactID: project}
	}
	sub := ingest.Submission{
		Principal:      principal,
		OrgID:          principal.OrgID,
		Product:        product,
		ProductVersion: strings.TrimSpace(q.Get("productVersion")),
		UpdateType:     strings.TrimSpace(q.Get("updateType")),
		Projects:       []inventory.ProjectInfo{info},
		Source:         "sbom",
		PluginName:     "sbom " + bom.Format + " " + bom.SpecVersion,
		RequesterEmail: principal.Email,
		ScanComment:    strings.TrimSpace(q.Get("scanComment")),
	}
	res, err := h.pipeline.Submit(ctx, sub)
	if err != nil {
		h.rejected(w, r, err, http.StatusBadRequest, CodeBadRequest)
		return
	}
	h.opts.Logger.InfoContext(ctx, "sbom upload queued", "requestToken", res.RequestToken, "format", bom.Format,
		"specVersion", bom.SpecVersion, "components", bom.Stats.Components, "edges", bom.Stats.Edges, "bytes", size)
	if project == "" {
		for name := range res.ProjectNamesToIDs {
			project = name
		}
	}
	writeJSON(w, http.StatusOK, Response{Result: res, Project: project, SBOM: Summary{
		Format: bom.Format, SpecVersion: bom.SpecVersion, Name: bom.Name, Version: bom.Version, Bytes: size, Stats: bom.Stats,
	}})
}

// rejected answers an error of the pipeline: a RejectError with the status
// its kind calls for, anything else as a server fault.
func (h *Handler) rejected(w http.ResponseWriter, r *http.Request, err error, status int, code string) {
	rej, ok := ingest.IsReject(err)
	if !ok {
		h.opts.Logger.ErrorContext(r.Context(), "sbom upload failed", "err", err)
		h.fail(w, r, http.StatusInternalServerError, CodeInternal, "the upload could not be queued; try again later")
		return
	}
	switch {
	case rej.NotAllowed:
		status, code = http.StatusForbidden, CodeForbidden
	case rej.Message == ingest.MsgInvalidUserKey:
		status, code = http.StatusUnauthorized, CodeUnauthorized
	case rej.Message == ingest.MsgInvalidDiff:
		status, code = http.StatusUnprocessableEntity, CodeInvalidInventory
	}
	msg := rej.Message
	if rej.Detail != "" {
		msg += ": " + rej.Detail
	}
	h.fail(w, r, status, code, "%s", msg)
}

// readBody reads the document, gzip-decoded when the request says so,
// refusing one larger than MaxBytes after reading at most MaxBytes+1 bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	limit := h.opts.MaxBytes
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the document is %d bytes; the limit is %d", r.ContentLength, limit)
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("the body is not gzip: %w", err)
		}
		defer zr.Close()
		body = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q (gzip or none)", enc)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && enc == "" {
		buf.Grow(int(r.ContentLength) + 1)
	}
	n, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr) || n > limit:
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the document is larger than the limit of %d bytes", limit)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err)
	}
	return buf.Bytes(), 0, nil
}
