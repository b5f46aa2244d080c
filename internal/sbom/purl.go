package sbom

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tallyhq/tally/internal/inventory"
)

// purl is a parsed package URL
// (pkg:type/namespace/name@version?qualifiers#subpath).
type purl struct {
	Type       string
	Namespace  string
	Name       string
	Version    string
	Qualifiers map[string]string
	Subpath    string
}

// parsePurl parses a package URL following the purl specification's
// parsing rules: the scheme is "pkg", the type is lower-cased, segments,
// version and qualifier values are percent-decoded.
func parsePurl(s string) (purl, error) {
	var p purl
	rest := strings.TrimSpace(s)
	scheme, rest, ok := strings.Cut(rest, ":")
	if !ok || !strings.EqualFold(scheme, "pkg") {
		return p, fmt.Errorf("purl %q: scheme is not pkg", s)
	}
	if i := strings.LastIndex(rest, "#"); i >= 0 {
		sub, err := url.PathUnescape(strings.Trim(rest[i+1:], "/"))
		if err != nil {
			return p, fmt.Errorf("purl %q: subpath: %w", s, err)
		}
		p.Subpath = sub
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "?"); i >= 0 {
		for _, kv := range strings.Split(rest[i+1:], "&") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" || v == "" {
				continue
			}
			val, err := url.PathUnescape(v)
			if err != nil {
				return p, fmt.Errorf("purl %q: qualifier %s: %w", s, k, err)
			}
			if p.Qualifiers == nil {
				p.Qualifiers = map[string]string{}
			}
			p.Qualifiers[strings.ToLower(k)] = val
		}
		rest = rest[:i]
	}
	rest = strings.Trim(rest, "/")
	// The version follows the last '@' of the last segment (an npm scope
	// such as @babel is a namespace segment, not a version).
	if at := strings.LastIndex(rest, "@"); at >= 0 && at > strings.LastIndex(rest, "/") {
		v, err := url.PathUnescape(rest[at+1:])
		if err != nil {
			return p, fmt.Errorf("purl %q: version: %w", s, err)
		}
		p.Version = v
		rest = rest[:at]
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 2 {
		return p, fmt.Errorf("purl %q: needs a type and a name", s)
	}
	p.Type = strings.ToLower(segs[0])
	var ns []string
	for i, seg := range segs[1:] {
		if seg == "" {
			continue
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return p, fmt.Errorf("purl %q: segment %q: %w", s, seg, err)
		}
		if i == len(segs)-2 {
			p.Name = dec
		} else {
			ns = append(ns, dec)
		}
	}
	p.Namespace = strings.Join(ns, "/")
	if p.Type == "" || p.Name == "" {
		return p, fmt.Errorf("purl %q: needs a type and a name", s)
	}
	return p, nil
}

// dependencyTypes maps purl types to the agents' dependencyType values.
var dependencyTypes = map[string]string{
	"maven":     "MAVEN",
	"npm":       "NPM",
	"pypi":      "PYTHON",
	"golang":    "GO",
	"nuget":     "NUGET",
	"gem":       "RUBY",
	"cargo":     "CRATE",
	"composer":  "PHP",
	"cocoapods": "COCOAPODS",
	"hex":       "HEX",
	"cran":      "R",
	"conda":     "CONDA",
	"conan":     "CONAN",
	"docker":    "DOCKER",
	"oci":       "DOCKER",
	"rpm":       "RPM",
	"deb":       "DEBIAN",
	"apk":       "ALPINE",
	"swift":     "SWIFT",
	"bower":     "BOWER",
}

// dependencyType is the agents' dependencyType for a purl type: the mapped
// value, else the purl type upper-cased.
func dependencyType(purlType string) string {
	if t, ok := dependencyTypes[purlType]; ok {
		return t
	}
	return strings.ToUpper(purlType)
}

// applyPurl sets a library's coordinates from its package URL: groupId is
// the namespace, artifactId the name, version the version, dependencyType
// from the type. Maven libraries also get type (the packaging, "jar" by
// default), classifier and the file name Maven gives them.
func applyPurl(d *inventory.DependencyInfo, p purl) {
	if p.Type == "golang" {
		// A Go module's major version suffix is part of its name:
		// github.com/jackc/pgx/v5 is groupId github.com/jackc, artifactId
		// pgx/v5 (not v5).
		if i := strings.LastIndex(p.Namespace, "/"); i >= 0 && isMajorSuffix(p.Name) {
			p.Namespace, p.Name = p.Namespace[:i], p.Namespace[i+1:]+"/"+p.Name
		}
	}
	d.DependencyType = dependencyType(p.Type)
	if p.Namespace != "" {
		d.GroupID = p.Namespace
	}
	d.ArtifactID = p.Name
	if p.Version != "" {
		d.Version = p.Version
	}
	if p.Type == "maven" {
		d.Type = p.Qualifiers["type"]
		if d.Type == "" {
			d.Type = "jar"
		}
		d.Classifier = p.Qualifiers["classifier"]
		if d.Filename == "" && d.Version != "" {
			f := d.ArtifactID + "-" + d.Version
			if d.Classifier != "" {
				f += "-" + d.Classifier
			}
			d.Filename = f + "." + d.Type
		}
	}
}

// isMajorSuffix reports whether s is a Go module major version suffix (v2,
// v3, ...).
func isMajorSuffix(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
