package agent_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/agent"
	"github.com/tallyhq/tally/internal/tallytest"
)

// poster is what the tests post agent forms to: a full server from the rig,
// or an httptest server around a handler with small limits.
type poster interface {
	Post(path, contentType string, body []byte) (int, []byte)
}

func postForm(t *testing.T, s poster, form url.Values) agent.Envelope {
	t.Helper()
	status, body := s.Post("/agent", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if status != http.StatusOK {
		t.Fatalf("POST /agent: status %d: %s", status, body)
	}
	var env agent.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("envelope is not JSON: %v\n%s", err, body)
	}
	if env.EnvelopeVersion == "" {
		t.Fatalf("envelope without envelopeVersion: %s", body)
	}
	return env
}

// updateForm is an UPDATE as the Java agents send it.
func updateForm(orgToken, userKey, product, updateType, diff string) url.Values {
	return url.Values{
		"type": {"UPDATE"}, "agent": {"fs-agent"}, "agentVersion": {"2.9.9.73"}, "pluginVersion": {"21.3.1"},
		"token": {orgToken}, "userKey": {userKey}, "product": {product}, "productVersion": {"null"},
		"timeStamp": {"1700000000000"}, "updateType": {updateType}, "diff": {diff},
		"scanComment": {"nightly"}, "requesterEmail": {"ci@example.com"}, "extraProperties": {"null"},
	}
}

// gzipBase64 encodes a diff the way the Java agents do.
func gzipBase64(t testing.TB, plain []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// data decodes an envelope's data string.
func data(t *testing.T, env agent.Envelope) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(env.Data), &m); err != nil {
		t.Fatalf("envelope data is not a JSON object: %v\n%q", err, env.Data)
	}
	return m
}

// waitState polls getRequestState until the request reaches one of the
// final states, with a generous deadline; it returns the state.
func waitState(t *testing.T, s *tallytest.Server, token string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := s.MustCall(map[string]any{"requestType": "getRequestState", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken, "requestToken": token})
		st, _ := m["requestState"].(string)
		switch st {
		case "FINISHED", "FAILED", "SKIPPED":
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s still %s after the deadline", token, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustUpdate posts an update and waits until it is FINISHED.
func mustUpdate(t *testing.T, s *tallytest.Server, product, updateType, diff string) agent.Envelope {
	t.Helper()
	env := postForm(t, s, updateForm(s.Admin.OrgToken, s.Admin.UserKey, product, updateType, diff))
	if env.Status != agent.StatusOK {
		t.Fatalf("update refused: %+v", env)
	}
	if st := waitState(t, s, env.RequestToken); st != "FINISHED" {
		t.Fatalf("request %s ended %s", env.RequestToken, st)
	}
	return env
}
