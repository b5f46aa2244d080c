// Package sbom is Tally's second ingestion path: it reads software bills of
// materials (CycloneDX JSON and SPDX 2.x JSON) with the ecosystems' own
// libraries, converts them into the agents' inventory model (a tree of
// inventory.DependencyInfo per project) and serves POST /sbom, which queues
// the result on the same pipeline as /agent. docs/sbom.md documents the
// endpoint, the mapping rules and the limits.
package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tallyhq/tally/internal/inventory"
)

// Formats of a parsed document.
const (
	FormatCycloneDX = "CycloneDX"
	FormatSPDX      = "SPDX"
)

// Limits bound what a document may expand to. The zero value of a field
// means its default.
type Limits struct {
	// MaxComponents bounds the components (CycloneDX) or packages and
	// contained files (SPDX) of one document.
	MaxComponents int
	// MaxEntries bounds the entries of the resulting tree: one per root
	// and one per dependency edge. It is the pipeline's limit on the
	// dependency entries of one submission (inventory.Limits.MaxLibraries).
	MaxEntries int
	// MaxDepth bounds the depth of the resulting tree, a root being at
	// depth 1 (inventory.Limits.MaxDepth).
	MaxDepth int
}

// DefaultMaxComponents is the default of Limits.MaxComponents; the other
// defaults are the pipeline's (inventory.DefaultLimits). docs/sbom.md
// states them.
const DefaultMaxComponents = 100_000

// LimitsFor returns the limits that keep a converted document within the
// pipeline's limits.
func LimitsFor(l inventory.Limits) Limits {
	return Limits{MaxEntries: l.MaxLibraries, MaxDepth: l.MaxDepth}
}

func (l Limits) withDefaults() Limits {
	if l.MaxComponents <= 0 {
		l.MaxComponents = DefaultMaxComponents
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = inventory.DefaultLimits.MaxLibraries
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = inventory.DefaultLimits.MaxDepth
	}
	return l
}

// Stats count what a conversion found and did.
type Stats struct {
	// Components is the number of libraries (distinct graph nodes).
	Components int `json:"components"`
	// Edges is the number of dependency edges kept.
	Edges int `json:"edges"`
	// Roots is the number of top-level libraries.
	Roots int `json:"roots"`
	// Depth is the depth of the tree (1 for a flat list).
	Depth int `json:"depth"`
	// CycleEdges counts edges dropped because they closed a cycle.
	CycleEdges int `json:"cycleEdges"`
	// UnresolvedRefs counts references to elements the document does not
	// define (or defines in another document); they are ignored.
	UnresolvedRefs int `json:"unresolvedRefs"`
	// Skipped counts components without any name, purl or reference.
	Skipped int `json:"skipped"`
}

// BOM is a parsed and converted document.
type BOM struct {
	Format      string // FormatCycloneDX or FormatSPDX
	SpecVersion string // "1.5", "2.3", ...
	// Name is the name of the document's subject (the CycloneDX metadata
	// component, the one package an SPDX document describes, else the SPDX
	// document name): the default project name.
	Name    string
	Version string // the subject's version, when known
	// Dependencies is the inventory: the top-level libraries with their
	// dependencies as children.
	Dependencies []inventory.DependencyInfo
	Stats        Stats
}

// Error is a document refused: Code is a stable word for clients
// ("invalid_sbom", "unsupported_format", "too_large"), Message says why.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Error codes.
const (
	CodeInvalid     = "invalid_sbom"
	CodeUnsupported = "unsupported_format"
	CodeTooLarge    = "too_large"
)

func invalid(err error, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...), Err: err}
}

// AsError reports whether err is an *Error and returns it.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// sniff holds the top-level keys that tell the formats apart.
type sniff struct {
	BOMFormat   *string `json:"bomFormat"`
	SPDXVersion *string `json:"spdxVersion"`
	Context     any     `json:"@context"`
}

// Parse reads a CycloneDX JSON or SPDX 2.x JSON document and converts it.
// The conversion stops with ctx's error when ctx ends.
func Parse(ctx context.Context, data []byte, limits Limits) (*BOM, error) {
	limits = limits.withDefaults()
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, invalid(nil, "the document is empty")
	}
	switch {
	case trimmed[0] == '<':
		return nil, &Error{Code: CodeUnsupported, Message: "XML documents (CycloneDX XML, SPDX RDF) are not supported; send CycloneDX JSON or SPDX JSON"}
	case bytes.HasPrefix(trimmed, []byte("SPDXVersion:")):
		return nil, &Error{Code: CodeUnsupported, Message: "SPDX tag-value documents are not supported; send SPDX JSON"}
	}
	var s sniff
	if err := json.Unmarshal(data, &s); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &syntaxErr):
			return nil, invalid(err, "the document is not valid JSON")
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return nil, &Error{Code: CodeUnsupported, Message: "the document is not a JSON object (expected a CycloneDX or SPDX JSON document)"}
		default:
			return nil, invalid(err, "malformed document")
		}
	}
	switch {
	case s.BOMFormat != nil:
		if *s.BOMFormat != "CycloneDX" {
			return nil, &Error{Code: CodeUnsupported, Message: fmt.Sprintf("bomFormat %q is not CycloneDX", *s.BOMFormat)}
		}
		return parseCycloneDX(ctx, data, limits)
	case s.SPDXVersion != nil:
		return parseSPDX(ctx, data, *s.SPDXVersion, limits)
	case s.Context != nil:
		return nil, &Error{Code: CodeUnsupported, Message: "JSON-LD documents (SPDX 3) are not supported; send SPDX 2.3 JSON or CycloneDX JSON"}
	default:
		return nil, &Error{Code: CodeUnsupported, Message: "not a CycloneDX (no bomFormat) or SPDX (no spdxVersion) JSON document"}
	}
}

// normalizeAlgorithm turns a hash algorithm name of either format ("SHA-256",
// "SHA256", "SHA3-256", "BLAKE2b-256") into the agents' checksum key
// ("SHA256", "SHA3_256", "BLAKE2B_256").
func normalizeAlgorithm(alg string) string {
	a := strings.ToUpper(strings.TrimSpace(alg))
	if strings.HasPrefix(a, "SHA-") {
		a = "SHA" + a[len("SHA-"):]
	}
	return strings.ReplaceAll(a, "-", "_")
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// addHash records one hash of a library: a well-formed SHA-1 becomes its
// sha1, every other algorithm goes into checksums. A malformed SHA-1 is
// dropped: the pipeline identifies libraries by their SHA-1 (also one found
// in checksums), and a bad value would merge unrelated libraries.
func addHash(d *inventory.DependencyInfo, alg, value string) {
	key := normalizeAlgorithm(alg)
	value = strings.TrimSpace(value)
	if key == "" || value == "" {
		return
	}
	if key == "SHA1" {
		if d.Sha1 == "" && isHex(value, 40) {
			d.Sha1 = strings.ToLower(value)
		}
		return
	}
	if d.Checksums == nil {
		d.Checksums = map[string]string{}
	}
	if _, ok := d.Checksums[key]; !ok {
		d.Checksums[key] = strings.ToLower(value)
	}
}

// addLicense appends a license (an SPDX id, a name or an expression) once.
func addLicense(d *inventory.DependencyInfo, l string) {
	l = strings.TrimSpace(l)
	if l == "" {
		return
	}
	for _, have := range d.Licenses {
		if have == l {
			return
		}
	}
	d.Licenses = append(d.Licenses, l)
}
