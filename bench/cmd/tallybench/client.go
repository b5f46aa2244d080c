package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tallyhq/tally/internal/inventory"
)

// client talks to one server with keep-alive connections.
type client struct {
	http     *http.Client
	base     string
	orgToken string
	userKey  string
}

func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	tr.DisableCompression = true
	return &http.Client{Transport: tr, Timeout: 10 * time.Minute}
}

func (c *client) post(ctx context.Context, path, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: read: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: status %d: %.200s", path, resp.StatusCode, b)
	}
	return b, nil
}

// apiBody encodes a JSON API request with the user key.
func (c *client) apiBody(fields map[string]any) []byte {
	m := map[string]any{"userKey": c.userKey}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// api calls the JSON API and decodes the answer, failing on an errorCode.
func (c *client) api(ctx context.Context, fields map[string]any) (map[string]any, error) {
	b, err := c.post(ctx, "/api/v1.4", "application/json", c.apiBody(fields))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%v: decode: %w", fields["requestType"], err)
	}
	if code, ok := m["errorCode"]; ok {
		return nil, fmt.Errorf("%v: error %v: %v", fields["requestType"], code, m["errorMessage"])
	}
	return m, nil
}

// encodeDiff renders projects as the Java agents send them: Base64 of gzip.
func encodeDiff(projects []inventory.ProjectInfo) (string, error) {
	raw, err := json.Marshal(projects)
	if err != nil {
		return "", fmt.Errorf("encode diff: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return "", fmt.Errorf("gzip diff: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("gzip diff: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// agentForm builds an /agent UPDATE form for one product.
func (c *client) agentForm(product, updateType, diff string) []byte {
	f := url.Values{}
	f.Set("type", "UPDATE")
	f.Set("agent", "tallybench")
	f.Set("agentVersion", "1.0")
	f.Set("pluginVersion", "1.0")
	f.Set("token", c.orgToken)
	f.Set("userKey", c.userKey)
	f.Set("product", product)
	f.Set("updateType", updateType)
	f.Set("timeStamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	f.Set("diff", diff)
	return []byte(f.Encode())
}

// upload posts an agent form and returns the request token and the tokens
// of the projects it names.
func (c *client) upload(ctx context.Context, form []byte) (string, map[string]string, error) {
	b, err := c.post(ctx, "/agent", "application/x-www-form-urlencoded", form)
	if err != nil {
		return "", nil, err
	}
	var env struct {
		Status       int    `json:"status"`
		Message      string `json:"message"`
		Data         string `json:"data"`
		RequestToken string `json:"requestToken"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", nil, fmt.Errorf("agent envelope: %w: %.200s", err, b)
	}
	if env.Status != 1 {
		return "", nil, fmt.Errorf("agent update refused: status %d %s: %s", env.Status, env.Message, env.Data)
	}
	var data struct {
		ProjectNamesToDetails map[string]struct{ ProjectToken string }
	}
	if err := json.Unmarshal([]byte(env.Data), &data); err != nil {
		return "", nil, fmt.Errorf("agent envelope data: %w", err)
	}
	tokens := map[string]string{}
	for name, d := range data.ProjectNamesToDetails {
		tokens[name] = d.ProjectToken
	}
	return env.RequestToken, tokens, nil
}

// waitFinished polls getRequestState until the request is FINISHED. The
// pause between polls grows from 1 to 4 ms, so polling takes little of the
// server's CPU and adds at most 4 ms to a measured time.
func (c *client) waitFinished(ctx context.Context, requestToken string) error {
	body := c.apiBody(map[string]any{"requestType": "getRequestState", "orgToken": c.orgToken, "requestToken": requestToken})
	deadline := time.Now().Add(10 * time.Minute)
	pause := time.Millisecond
	for time.Now().Before(deadline) {
		b, err := c.post(ctx, "/api/v1.4", "application/json", body)
		if err != nil {
			return err
		}
		var st struct{ RequestState string }
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("request state: %w", err)
		}
		switch st.RequestState {
		case "FINISHED":
			return nil
		case "FAILED", "SKIPPED", "UNKNOWN":
			return fmt.Errorf("request %s ended %s", requestToken, st.RequestState)
		}
		time.Sleep(pause)
		pause = min(pause*2, 4*time.Millisecond)
	}
	return fmt.Errorf("request %s did not finish in 10 minutes", requestToken)
}

// projectToken finds a project by name through getAllProjects.
func (c *client) projectToken(ctx context.Context, productToken, name string) (string, error) {
	m, err := c.api(ctx, map[string]any{"requestType": "getAllProjects", "productToken": productToken})
	if err != nil {
		return "", err
	}
	for _, p := range m["projects"].([]any) {
		pm := p.(map[string]any)
		if pm["projectName"] == name {
			return pm["projectToken"].(string), nil
		}
	}
	return "", fmt.Errorf("no project %q", name)
}
