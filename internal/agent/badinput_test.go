package agent_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/internal/agent"
	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// handlerServer serves the /agent handler with small limits on a real
// loopback listener over a real SQLite file.
type handlerServer struct {
	srv *httptest.Server
	t   *testing.T
}

func (h *handlerServer) Post(path, contentType string, body []byte) (int, []byte) {
	resp, err := http.Post(h.srv.URL+path, contentType, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// snapshot counts the rows of every table an update may write.
func snapshot(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"products", "projects", "project_tags", "libraries", "project_libraries", "library_edges",
		"source_files", "plugin_requests", "plugin_request_projects"} {
		var n int
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func TestBadInputRefusedStoreUnchanged(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, tallytest.NewDatabase(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	adminKey := auth.NewKey()
	org, err := st.CreateOrg(ctx, "Acme", "admin@acme.test", auth.HashKey(adminKey))
	if err != nil {
		t.Fatal(err)
	}
	otherKey := auth.NewKey()
	if _, err := st.CreateOrg(ctx, "Other", "admin@other.test", auth.HashKey(otherKey)); err != nil {
		t.Fatal(err)
	}
	inactiveKey := auth.NewKey()
	inactive, err := st.CreateOrg(ctx, "Inactive", "admin@inactive.test", auth.HashKey(inactiveKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetOrgActive(ctx, inactive.ID, false); err != nil {
		t.Fatal(err)
	}
	product, err := st.CreateProduct(ctx, org.ID, "Existing")
	if err != nil {
		t.Fatal(err)
	}
	memberKey := auth.NewKey()
	if _, err := st.CreateUser(ctx, org.ID, "member@acme.test", auth.HashKey(memberKey), auth.ProductMember, product.ID); err != nil {
		t.Fatal(err)
	}
	limits := agent.Limits{MaxFormBytes: 64 << 10, MaxDiffBytes: 16 << 10}
	p := ingest.New(st, ingest.Options{Limits: inventory.Limits{MaxLibraries: 20, MaxDepth: 4, MaxProjects: 3}})
	hs := &handlerServer{srv: httptest.NewServer(agent.New(p, nil, limits)), t: t}
	defer hs.srv.Close()

	good := diffOf("svc", "a>b")
	deep := diffOf("svc", "a>b>c>d>e>f")
	var many []string
	for i := range 25 {
		many = append(many, fmt.Sprintf("lib%02d", i))
	}
	// A gzip bomb: a small upload that inflates far past the limit.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`[{"coordinates":{"artifactId":"x"},"dependencies":[`))
	zw.Write(bytes.Repeat([]byte(" "), 8<<20))
	zw.Close()
	if int64(bomb.Len()) > limits.MaxFormBytes/2 {
		t.Fatalf("bomb is %d bytes compressed; the test needs it under the form limit", bomb.Len())
	}
	notGzip := base64.StdEncoding.EncodeToString([]byte("this is not gzip"))
	tagged := `[{"coordinates":{"artifactId":"svc"},"projectTags":[{"tagKey":"my errorCode","tagValue":"x"}],"dependencies":[]}]`

	type tc struct {
		form    url.Values
		message string
		detail  string
	}
	base := func(mod func(url.Values)) url.Values {
		f := updateForm(org.Token, adminKey, "Existing", "", good)
		mod(f)
		return f
	}
	cases := map[string]tc{
		"bad org token":         {base(func(f url.Values) { f.Set("token", "nope") }), "Illegal arguments", "Bad org token"},
		"inactive org":          {base(func(f url.Values) { f.Set("token", inactive.Token); f.Set("userKey", inactiveKey) }), "Illegal arguments", "inactive"},
		"missing org token":     {base(func(f url.Values) { f.Del("token") }), "Illegal arguments", "org token"},
		"missing user key":      {base(func(f url.Values) { f.Del("userKey") }), "Invalid User Key", ""},
		"unknown user key":      {base(func(f url.Values) { f.Set("userKey", auth.NewKey()) }), "Invalid User Key", ""},
		"key of another org":    {base(func(f url.Values) { f.Set("userKey", otherKey) }), "Invalid User Key", ""},
		"short user key":        {base(func(f url.Values) { f.Set("userKey", "abc") }), "Invalid User Key", ""},
		"member may not update": {base(func(f url.Values) { f.Set("userKey", memberKey) }), "Illegal arguments", "not allowed"},
		"unsupported type":      {base(func(f url.Values) { f.Set("type", "GET_DEPENDENCY_DATA") }), "Illegal arguments", "not supported"},
		"missing type":          {base(func(f url.Values) { f.Del("type") }), "Illegal arguments", "Missing request type"},
		"missing diff":          {base(func(f url.Values) { f.Del("diff") }), "Invalid diff", "Missing diff"},
		"malformed JSON":        {base(func(f url.Values) { f.Set("diff", `[{"coordinates":`) }), "Problem parsing json", ""},
		"wrong JSON shape":      {base(func(f url.Values) { f.Set("diff", `[{"dependencies":"no"}]`) }), "Problem parsing json", ""},
		"not base64":            {base(func(f url.Values) { f.Set("diff", "H4sI%%%%") }), "Invalid diff", "neither JSON nor Base64"},
		"base64 of not gzip":    {base(func(f url.Values) { f.Set("diff", notGzip) }), "Invalid diff", ""},
		"truncated gzip":        {base(func(f url.Values) { f.Set("diff", gzipBase64(t, []byte(good))[:40]) }), "Invalid diff", "gzip"},
		"gzip bomb":             {base(func(f url.Values) { f.Set("diff", base64.StdEncoding.EncodeToString(bomb.Bytes())) }), "Invalid diff", "decompressed diff larger than 16384 bytes"},
		"plain diff too large":  {base(func(f url.Values) { f.Set("diff", "["+strings.Repeat(" ", 20<<10)+good[1:]) }), "Invalid diff", "larger than"},
		"form too large":        {base(func(f url.Values) { f.Set("scanComment", strings.Repeat("x", 70<<10)) }), "Illegal arguments", "larger than 65536 bytes"},
		"too many libraries":    {base(func(f url.Values) { f.Set("diff", diffOf("svc", many...)) }), "Invalid diff", "more than 20"},
		"tree too deep":         {base(func(f url.Values) { f.Set("diff", deep) }), "Invalid diff", "deeper than 4"},
		"too many projects": {base(func(f url.Values) {
			f.Set("diff", `[{"coordinates":{"artifactId":"a"}},{"coordinates":{"artifactId":"b"}},{"coordinates":{"artifactId":"c"}},{"coordinates":{"artifactId":"d"}}]`)
		}), "Invalid diff", "more than 3 projects"},
		"no projects":           {base(func(f url.Values) { f.Set("diff", `[]`) }), "Invalid diff", "no project"},
		"project without name":  {base(func(f url.Values) { f.Set("diff", `[{"dependencies":[]}]`) }), "Illegal arguments", "neither coordinates.artifactId nor projectToken"},
		"unknown project token": {base(func(f url.Values) { f.Set("diff", `[{"projectToken":"no-such-project","dependencies":[]}]`) }), "Illegal arguments", "Invalid project token"},
		"bad update type":       {base(func(f url.Values) { f.Set("updateType", "MERGE") }), "Illegal arguments", "Unknown updateType"},
		"reserved tag key":      {base(func(f url.Values) { f.Set("diff", tagged) }), "Illegal arguments", "reserved"},
		"missing product":       {base(func(f url.Values) { f.Del("product") }), "Illegal arguments", "Missing product"},
		"duplicate project": {base(func(f url.Values) {
			f.Set("diff", `[{"coordinates":{"artifactId":"a"}},{"coordinates":{"artifactId":"a"}}]`)
		}), "Illegal arguments", "twice"},
		"control chars in name": {base(func(f url.Values) { f.Set("diff", `[{"coordinates":{"artifactId":"a\u0001b"}}]`) }), "Illegal arguments", "control characters"},
		"overlong dependency id": {base(func(f url.Values) {
			f.Set("diff", `[{"coordinates":{"artifactId":"a"},"dependencies":[{"artifactId":"`+strings.Repeat("y", 5000)+`"}]}]`)
		}), "Invalid diff", "longer than"},
		"NUL in a dependency field": {base(func(f url.Values) {
			f.Set("diff", `[{"coordinates":{"artifactId":"a"},"dependencies":[{"artifactId":"x\u0000y","version":"1"}]}]`)
		}), "Invalid diff", "NUL"},
		"NUL in a license": {base(func(f url.Values) {
			f.Set("diff", `[{"coordinates":{"artifactId":"a"},"dependencies":[{"artifactId":"x","licenses":["MIT\u0000"]}]}]`)
		}), "Invalid diff", "NUL"},
	}
	before := snapshot(t, st)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			env := postForm(t, hs, c.form)
			if env.Status != agent.StatusBadRequest || env.Message != c.message || !strings.Contains(env.Data, c.detail) {
				t.Errorf("got status %d message %q data %q; want status 2, %q, data containing %q", env.Status, env.Message, env.Data, c.message, c.detail)
			}
			if env.RequestToken != "" {
				t.Errorf("a refused request got a request token")
			}
		})
	}
	if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
		t.Errorf("refused requests changed the store (-before +after):\n%s", diff)
	}
	// The same server accepts a good request, so the refusals above were
	// about the input.
	env := postForm(t, hs, updateForm(org.Token, adminKey, "Existing", "", good))
	if env.Status != agent.StatusOK {
		t.Fatalf("good request refused: %+v", env)
	}
	if after := snapshot(t, st); after["plugin_requests"] != before["plugin_requests"]+1 || after["projects"] != before["projects"]+1 {
		t.Errorf("good request not queued: %v", after)
	}
}
