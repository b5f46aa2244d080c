package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/api"
	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// FuzzDispatch feeds arbitrary bodies to the JSON API: whatever comes in,
// the answer is HTTP 200 with one JSON object, either exactly
// {"errorCode","errorMessage"} or a success without the text "errorCode",
// and nothing panics. `go test` runs the seeds (every request type with
// real tokens, and broken variants); `go test -fuzz FuzzDispatch
// ./internal/api` explores further.
func FuzzDispatch(f *testing.F) {
	ctx := context.Background()
	st, err := store.Open(ctx, tallytest.NewDatabase(f, f.TempDir()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	key := auth.NewKey()
	org, err := st.CreateOrg(ctx, "Fuzz", "fuzz@example.test", auth.HashKey(key))
	if err != nil {
		f.Fatal(err)
	}
	product, err := st.CreateProduct(ctx, org.ID, "Alpha")
	if err != nil {
		f.Fatal(err)
	}
	project, err := st.CreateProject(ctx, product, "api", "")
	if err != nil {
		f.Fatal(err)
	}
	h := api.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))

	tokens := map[string]string{"orgToken": org.Token, "productToken": product.Token, "projectToken": project.Token}
	for _, rt := range h.RequestTypes() {
		body := map[string]any{"requestType": rt, "userKey": key, "productName": "P " + rt, "projectName": "p " + rt,
			"tagKey": "k", "tagValue": "v", "keyUuid": "x", "requestToken": "r", "action": "CUSTOM",
			"projectTagKeyRegex": "^a", "projectTagValueRegex": "b$", "includeInHouseData": false}
		for k, v := range tokens {
			body[k] = v
		}
		b, _ := json.Marshal(body)
		f.Add(b)
		// The same with each token swapped for another kind.
		f.Add(bytes.ReplaceAll(b, []byte(project.Token), []byte(product.Token)))
	}
	for _, s := range []string{``, `{}`, `[]`, `null`, `{"requestType":null}`, `{"requestType":"getAllProducts","userKey":{}}`,
		`{"requestType":"getProjectHierarchy","userKey":"` + key + `","projectToken":"` + project.Token + `","includeInHouseData":"x"}`,
		`{"requestType":"createProduct","userKey":"` + key + `","orgToken":"` + org.Token + `","productName":"errorCode\u0000"}`,
		"{\"requestType\":\"getAllProducts\",\"userKey\":\"\xff\xfe\"}", `{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api", bytes.NewReader(body))
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		raw := rec.Body.Bytes()
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("answer is not a JSON object: %v: %s", err, raw)
		}
		if _, isErr := m["errorCode"]; isErr {
			code, ok := m["errorCode"].(float64)
			msg, _ := m["errorMessage"].(string)
			if !ok || code == 0 || msg == "" || len(m) != 2 {
				t.Fatalf("malformed error answer: %s", raw)
			}
			if code == api.CodeUnexpected {
				t.Fatalf("input made the server fail (4000): %q", body)
			}
			return
		}
		if bytes.Contains(raw, []byte("errorCode")) || hasKey(any(m), "errorMessage") {
			t.Fatalf("success looks like an error: %s", raw)
		}
	})
}
