// Package agent answers POST /agent, the endpoint CI agents (the Unified
// Agent, the Maven/Gradle/npm plugins) upload inventories to: it parses the
// form, decodes the diff (plain JSON or Base64 of gzip) within hard limits,
// hands UPDATE requests to the ingestion pipeline and answers the
// protocol's envelope (docs/agent.md).
package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/inventory"
)

// Limits bound one /agent request (docs/agent.md). Limits on the number of
// libraries, projects and the tree depth are the pipeline's
// (inventory.Limits).
type Limits struct {
	// MaxFormBytes bounds the request body (the urlencoded form).
	MaxFormBytes int64
	// MaxDiffBytes bounds the diff's JSON: as sent, or after gunzipping a
	// Base64-of-gzip diff (reading stops one byte past the limit, so a gzip
	// bomb costs at most this much memory).
	MaxDiffBytes int64
}

// DefaultLimits are the limits unless configured otherwise.
var DefaultLimits = Limits{MaxFormBytes: 64 << 20, MaxDiffBytes: 128 << 20}

// Envelope statuses.
const (
	StatusOK         = 1
	StatusBadRequest = 2
	StatusError      = 3
)

// EnvelopeVersion is what the envelope's envelopeVersion says.
const EnvelopeVersion = "2.9.9.0"

// Envelope is the answer to every /agent request, always with HTTP 200.
// Data is a JSON document serialized into a string, as agents expect.
type Envelope struct {
	EnvelopeVersion string `json:"envelopeVersion"`
	Status          int    `json:"status"`
	Message         string `json:"message"`
	Data            string `json:"data"`
	RequestToken    string `json:"requestToken"`
}

// Messages of the protocol used besides the pipeline's.
const (
	MsgOK                = "ok"
	MsgProblemParsing    = "Problem parsing json"
	MsgUnexpected        = "Unexpected error"
	MsgIllegalArguments  = ingest.MsgIllegalArguments
	MsgInvalidDiff       = ingest.MsgInvalidDiff
	requestTypeUpdate    = "UPDATE"
	requestTypeCompliant = "CHECK_POLICY_COMPLIANCE"
	requestTypePolicies  = "CHECK_POLICIES"
)

// Handler answers POST /agent.
type Handler struct {
	pipeline *ingest.Pipeline
	log      *slog.Logger
	limits   Limits
}

// New returns the /agent handler over a pipeline; zero limits take the
// defaults.
func New(p *ingest.Pipeline, log *slog.Logger, limits Limits) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if limits.MaxFormBytes <= 0 {
		limits.MaxFormBytes = DefaultLimits.MaxFormBytes
	}
	if limits.MaxDiffBytes <= 0 {
		limits.MaxDiffBytes = DefaultLimits.MaxDiffBytes
	}
	return &Handler{pipeline: p, log: log, limits: limits}
}

// ServeHTTP answers one agent request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	env := h.answer(r.Context(), w, r)
	env.EnvelopeVersion = EnvelopeVersion
	b, err := json.Marshal(env)
	if err != nil {
		h.log.ErrorContext(r.Context(), "agent: encode envelope", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

func refused(message, detail string) Envelope {
	return Envelope{Status: StatusBadRequest, Message: message, Data: detail}
}

func (h *Handler) answer(ctx context.Context, w http.ResponseWriter, r *http.Request) Envelope {
	r.Body = http.MaxBytesReader(w, r.Body, h.limits.MaxFormBytes)
	if r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refused(MsgIllegalArguments, fmt.Sprintf("Request body larger than %d bytes", h.limits.MaxFormBytes))
		}
		return refused(MsgIllegalArguments, "Malformed form: "+err.Error())
	}
	field := func(name string) string {
		v := strings.TrimSpace(r.PostForm.Get(name))
		if v == "null" { // Java agents send unset fields as "null"
			return ""
		}
		return v
	}
	principal, err := h.pipeline.Authenticate(ctx, field("token"), field("userKey"))
	if err != nil {
		return h.failure(ctx, err)
	}
	reqType := strings.ToUpper(field("type"))
	switch reqType {
	case requestTypeUpdate, requestTypeCompliant, requestTypePolicies:
	case "":
		return refused(MsgIllegalArguments, "Missing request type")
	default:
		return refused(MsgIllegalArguments, fmt.Sprintf("Request type %s is not supported", reqType))
	}
	projects, env, ok := h.decodeDiff(r.PostForm.Get("diff"))
	if !ok {
		return env
	}
	product := field("productToken")
	if product == "" {
		product = field("product")
	}
	plugin := field("agent")
	if v := field("pluginVersion"); v != "" {
		plugin += " " + v
	} else if v := field("agentVersion"); v != "" {
		plugin += " " + v
	}
	sub := ingest.Submission{
		Principal: principal, OrgID: principal.OrgID, Product: product, ProductVersion: field("productVersion"),
		ProjectToken: field("projectToken"), UpdateType: field("updateType"), Projects: projects, Source: "agent",
		PluginName: strings.TrimSpace(plugin), RequesterEmail: limit(field("requesterEmail"), 255), ScanComment: limit(field("scanComment"), 1024),
	}
	if reqType != requestTypeUpdate {
		sub.UpdateType = ingest.SoftRun
	}
	res, err := h.pipeline.Submit(ctx, sub)
	if err != nil {
		return h.failure(ctx, err)
	}
	var data any = res
	if reqType != requestTypeUpdate {
		data = policyResult(res)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return h.failure(ctx, fmt.Errorf("encode result: %w", err))
	}
	return Envelope{Status: StatusOK, Message: MsgOK, Data: string(b), RequestToken: res.RequestToken}
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (h *Handler) failure(ctx context.Context, err error) Envelope {
	if rej, ok := ingest.IsReject(err); ok {
		return refused(rej.Message, rej.Detail)
	}
	h.log.ErrorContext(ctx, "agent: request failed", "err", err)
	return Envelope{Status: StatusError, Message: MsgUnexpected, Data: "The server could not process the request"}
}

// decodeDiff reads the diff in either encoding: plain JSON (npm and Python
// plugins) or Base64 of gzip of the JSON (the Java agents, "H4sI...").
func (h *Handler) decodeDiff(diff string) ([]inventory.ProjectInfo, Envelope, bool) {
	raw, err := DecodeDiff(diff, h.limits.MaxDiffBytes)
	if err != nil {
		var de *inventory.DiffError
		if errors.As(err, &de) {
			return nil, refused(MsgInvalidDiff, de.Detail), false
		}
		return nil, refused(MsgProblemParsing, err.Error()), false
	}
	projects, err := ParseProjects(raw)
	if err != nil {
		return nil, refused(MsgProblemParsing, err.Error()), false
	}
	return projects, Envelope{}, true
}

// DecodeDiff returns the JSON text of a diff in either encoding, refusing
// (with an *inventory.DiffError) one whose JSON is larger than max bytes.
func DecodeDiff(diff string, max int64) ([]byte, error) {
	s := strings.TrimSpace(diff)
	if s == "" {
		return nil, &inventory.DiffError{Detail: "Missing diff"}
	}
	if s[0] == '[' || s[0] == '{' {
		if int64(len(s)) > max {
			return nil, &inventory.DiffError{Detail: fmt.Sprintf("diff larger than %d bytes", max)}
		}
		return []byte(s), nil
	}
	// A '+' sent unescaped arrives as a space.
	s = strings.ReplaceAll(s, " ", "+")
	dec, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return nil, &inventory.DiffError{Detail: "diff is neither JSON nor Base64"}
		}
	}
	if len(dec) >= 2 && dec[0] == 0x1f && dec[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(dec))
		if err != nil {
			return nil, &inventory.DiffError{Detail: "diff is not valid gzip: " + err.Error()}
		}
		out, err := io.ReadAll(io.LimitReader(zr, max+1))
		if err != nil {
			return nil, &inventory.DiffError{Detail: "diff is not valid gzip: " + err.Error()}
		}
		if int64(len(out)) > max {
			return nil, &inventory.DiffError{Detail: fmt.Sprintf("decompressed diff larger than %d bytes", max)}
		}
		return out, nil
	}
	t := bytes.TrimSpace(dec)
	if len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		if int64(len(t)) > max {
			return nil, &inventory.DiffError{Detail: fmt.Sprintf("diff larger than %d bytes", max)}
		}
		return t, nil
	}
	return nil, &inventory.DiffError{Detail: "diff is neither JSON nor Base64 of gzip"}
}

// ParseProjects parses a diff's JSON: a list of AgentProjectInfo, or one.
func ParseProjects(raw []byte) ([]inventory.ProjectInfo, error) {
	var projects []inventory.ProjectInfo
	if raw[0] == '{' {
		var one inventory.ProjectInfo
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("diff: %w", err)
		}
		return []inventory.ProjectInfo{one}, nil
	}
	if err := json.Unmarshal(raw, &projects); err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	return projects, nil
}

// policyNode is one node of a policy check tree: a resource, the policy it
// matched (none yet) and its children.
type policyNode struct {
	Resource map[string]string `json:"resource"`
	Policy   any               `json:"policy"`
	Children []policyNode      `json:"children"`
}

type policyResultJSON struct {
	Organization        string                `json:"organization"`
	RequestToken        string                `json:"requestToken"`
	ExistingProjects    map[string]policyNode `json:"existingProjects"`
	NewProjects         map[string]policyNode `json:"newProjects"`
	ProjectNewResources map[string][]any      `json:"projectNewResources"`
}

// policyResult answers CHECK_POLICY_COMPLIANCE and CHECK_POLICIES: policies
// are not implemented, so no resource matches one (no violations).
func policyResult(res ingest.Result) policyResultJSON {
	out := policyResultJSON{Organization: res.Organization, RequestToken: res.RequestToken,
		ExistingProjects: map[string]policyNode{}, NewProjects: map[string]policyNode{}, ProjectNewResources: map[string][]any{}}
	node := func(name string) policyNode {
		return policyNode{Resource: map[string]string{"displayName": name}, Children: []policyNode{}}
	}
	for _, n := range res.UpdatedProjects {
		out.ExistingProjects[n] = node(n)
		out.ProjectNewResources[n] = []any{}
	}
	for _, n := range res.CreatedProjects {
		out.NewProjects[n] = node(n)
		out.ProjectNewResources[n] = []any{}
	}
	return out
}
