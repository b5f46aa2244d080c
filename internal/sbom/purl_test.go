package sbom

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/internal/inventory"
)

func TestParsePurl(t *testing.T) {
	for in, want := range map[string]purl{
		"pkg:maven/org.apache.commons/commons-lang3@3.14.0?type=jar&classifier=sources": {Type: "maven", Namespace: "org.apache.commons", Name: "commons-lang3", Version: "3.14.0", Qualifiers: map[string]string{"type": "jar", "classifier": "sources"}},
		"pkg:npm/%40babel/core@7.23.0":                     {Type: "npm", Namespace: "@babel", Name: "core", Version: "7.23.0"},
		"pkg:npm/@babel/core":                              {Type: "npm", Namespace: "@babel", Name: "core"},
		"PKG:NPM/left-pad@1.3.0#lib/index.js":              {Type: "npm", Name: "left-pad", Version: "1.3.0", Subpath: "lib/index.js"},
		"pkg:golang/github.com/gorilla/mux@v1.8.0":         {Type: "golang", Namespace: "github.com/gorilla", Name: "mux", Version: "v1.8.0"},
		"pkg:pypi/django@5.0%2Blocal":                      {Type: "pypi", Name: "django", Version: "5.0+local"},
		"pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=": {Type: "deb", Namespace: "debian", Name: "curl", Version: "7.88.1-10", Qualifiers: map[string]string{"arch": "amd64"}},
		"pkg:docker/library/nginx@sha256%3A0123":           {Type: "docker", Namespace: "library", Name: "nginx", Version: "sha256:0123"},
	} {
		got, err := parsePurl(in)
		if err != nil {
			t.Errorf("parsePurl(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parsePurl(%q) (-want +got):\n%s", in, diff)
		}
	}
	for _, in := range []string{"", "npm/x@1", "pkg:", "pkg:npm", "pkg:npm/", "pkg:/x", "http://example.com/x", "pkg:npm/%zz@1"} {
		if p, err := parsePurl(in); err == nil {
			t.Errorf("parsePurl(%q) = %+v, want an error", in, p)
		}
	}
}

func TestApplyPurl(t *testing.T) {
	for in, want := range map[string]inventory.DependencyInfo{
		"pkg:maven/org.apache.commons/commons-lang3@3.14.0?classifier=sources": {GroupID: "org.apache.commons", ArtifactID: "commons-lang3", Version: "3.14.0",
			Type: "jar", Classifier: "sources", Filename: "commons-lang3-3.14.0-sources.jar", DependencyType: "MAVEN"},
		"pkg:maven/com.acme/widget@2?type=war":       {GroupID: "com.acme", ArtifactID: "widget", Version: "2", Type: "war", Filename: "widget-2.war", DependencyType: "MAVEN"},
		"pkg:golang/github.com/jackc/pgx/v5@v5.13.0": {GroupID: "github.com/jackc", ArtifactID: "pgx/v5", Version: "v5.13.0", DependencyType: "GO"},
		"pkg:golang/golang.org/x/sync@v0.24.0":       {GroupID: "golang.org/x", ArtifactID: "sync", Version: "v0.24.0", DependencyType: "GO"},
		"pkg:composer/laravel/framework@10.0.0":      {GroupID: "laravel", ArtifactID: "framework", Version: "10.0.0", DependencyType: "PHP"},
		"pkg:pub/http@1.1.0":                         {ArtifactID: "http", Version: "1.1.0", DependencyType: "PUB"},
		"pkg:apk/alpine/musl@1.2.4-r2":               {GroupID: "alpine", ArtifactID: "musl", Version: "1.2.4-r2", DependencyType: "ALPINE"},
	} {
		p, err := parsePurl(in)
		if err != nil {
			t.Fatal(err)
		}
		var got inventory.DependencyInfo
		applyPurl(&got, p)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("applyPurl(%q) (-want +got):\n%s", in, diff)
		}
	}
}
