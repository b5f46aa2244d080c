package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/sbom"
)

// uploadOptions are the flags of tally upload.
type uploadOptions struct {
	url, orgToken, userKey         string
	product, project, projectToken string
	productVersion, updateType     string
	comment                        string
	jsonOut, wait, gzip            bool
	waitTimeout, pollInterval      time.Duration
	progress                       string
	file                           string
}

// progressMinBytes is the smallest file that gets a progress bar (in auto
// mode, on a terminal).
const progressMinBytes = 1 << 20

func parseUploadFlags(args []string, env *environment) (*uploadOptions, error) {
	o := &uploadOptions{}
	fs := env.newFlags("upload")
	fs.Usage = func() {
		fmt.Fprint(env.stderr, `usage: tally upload [flags] FILE

Uploads a CycloneDX JSON or SPDX 2.3 JSON SBOM (FILE, or - for standard input)
to a Tally server, which queues it as an inventory update of the project, and
prints the request token (getRequestState takes it). docs/sbom.md has the rules.

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", env.envOr("TALLY_URL", "http://127.0.0.1:8080"), "server URL (env TALLY_URL)")
	fs.StringVar(&o.orgToken, "org-token", env.getenv("TALLY_ORG_TOKEN"), "organization token (env TALLY_ORG_TOKEN)")
	fs.StringVar(&o.userKey, "user-key", env.getenv("TALLY_USER_KEY"), "user key (env TALLY_USER_KEY)")
	fs.StringVar(&o.product, "product", "", "product name or token (an unknown name creates the product, when the user may)")
	fs.StringVar(&o.project, "project", "", "project name (default: the SBOM's subject: its metadata component or described package)")
	fs.StringVar(&o.projectToken, "project-token", "", "an existing project's token, instead of --project")
	fs.StringVar(&o.productVersion, "product-version", "", "product version")
	fs.StringVar(&o.updateType, "update-type", "", "OVERRIDE (default: the project's inventory becomes the SBOM's), APPEND, REMOVE or SOFT_RUN")
	fs.StringVar(&o.comment, "comment", "", "scan comment")
	fs.BoolVar(&o.jsonOut, "json", false, "print the server's whole answer as JSON")
	fs.BoolVar(&o.gzip, "gzip", false, "compress the document on the way (Content-Encoding: gzip)")
	fs.BoolVar(&o.wait, "wait", false, "wait until the request is processed (FINISHED, FAILED or SKIPPED; no wait for SOFT_RUN)")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 10*time.Minute, "how long --wait waits")
	fs.DurationVar(&o.pollInterval, "poll-interval", time.Second, "how often --wait asks for the request state")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on standard error: auto (on a terminal, for files of 1 MiB or more), always or never")

	// Flags may come before and after the file name.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(files) == 0:
		fs.Usage()
		return nil, errors.New("upload: no SBOM file given")
	case len(files) > 1:
		return nil, fmt.Errorf("upload: one SBOM file at a time (got %d)", len(files))
	}
	o.file = files[0]
	if err := required("url", o.url, "org-token", o.orgToken, "user-key", o.userKey, "product", o.product); err != nil {
		return nil, fmt.Errorf("upload: %w (or set TALLY_URL, TALLY_ORG_TOKEN, TALLY_USER_KEY)", err)
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upload: --url %q is not an http(s) URL", o.url)
	}
	switch o.progress {
	case "auto", "always", "never":
	default:
		return nil, fmt.Errorf("upload: --progress must be auto, always or never, not %q", o.progress)
	}
	if o.wait && (o.pollInterval <= 0 || o.waitTimeout <= 0) {
		return nil, errors.New("upload: --poll-interval and --wait-timeout must be positive")
	}
	return o, nil
}

// uploadURL is the endpoint with the upload's query parameters.
func (o *uploadOptions) uploadURL() string {
	q := url.Values{}
	q.Set("product", o.product)
	for k, v := range map[string]string{"project": o.project, "projectToken": o.projectToken,
		"productVersion": o.productVersion, "updateType": o.updateType, "scanComment": o.comment} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return strings.TrimRight(o.url, "/") + sbom.Path + "?" + q.Encode()
}

func runUpload(ctx context.Context, args []string, env *environment) error {
	o, err := parseUploadFlags(args, env)
	if err != nil {
		return err
	}
	var body io.Reader
	size := int64(-1)
	name := o.file
	if o.file == "-" {
		body, name = env.stdin, "standard input"
	} else {
		f, err := os.Open(o.file)
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		if st.IsDir() {
			return fmt.Errorf("upload: %s is a directory", o.file)
		}
		body, size = f, st.Size()
	}
	var bar *progressBar
	if o.progress == "always" || (o.progress == "auto" && size >= progressMinBytes && isTerminal(env.stderr)) {
		bar = &progressBar{w: env.stderr, total: size, last: -1}
		body = &progressReader{r: body, bar: bar}
	}

	if o.gzip {
		body = gzipStream(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.uploadURL(), body)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if o.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	} else if size >= 0 {
		req.ContentLength = size
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(sbom.HeaderOrgToken, o.orgToken)
	req.Header.Set(sbom.HeaderUserKey, o.userKey)
	resp, err := http.DefaultClient.Do(req)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("upload: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb sbom.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return fmt.Errorf("upload refused (HTTP %d, %s): %s", resp.StatusCode, eb.Error.Code, eb.Error.Message)
		}
		return fmt.Errorf("upload refused (HTTP %d): %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var res sbom.Response
	if err := json.Unmarshal(raw, &res); err != nil || res.RequestToken == "" {
		return fmt.Errorf("upload: the server's answer has no request token: %s", strings.TrimSpace(string(raw)))
	}
	fmt.Fprintf(env.stderr, "tally: %s (%s %s, %d components, %d dependency edges) queued for project %q of product %q\n",
		name, res.SBOM.Format, res.SBOM.SpecVersion, res.SBOM.Components, res.SBOM.Edges, res.Project, o.product)

	state := ""
	softRun := strings.EqualFold(strings.TrimSpace(o.updateType), "SOFT_RUN")
	if softRun {
		fmt.Fprintln(env.stderr, "tally: SOFT_RUN: the SBOM was checked; nothing was queued or stored")
	}
	if o.wait && !softRun {
		if state, err = waitForRequest(ctx, o, res.RequestToken, env); err != nil {
			return err
		}
	}
	if o.jsonOut {
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		if state != "" {
			out["requestState"] = state
		}
		if err := env.printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(env.stdout, res.RequestToken)
	}
	if state != "" && state != "FINISHED" {
		return fmt.Errorf("upload: request %s ended %s", res.RequestToken, state)
	}
	return nil
}

// waitForRequest polls getRequestState until the request reaches FINISHED,
// FAILED or SKIPPED.
func waitForRequest(ctx context.Context, o *uploadOptions, token string, env *environment) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.waitTimeout)
	defer cancel()
	body, err := json.Marshal(map[string]string{"requestType": "getRequestState", "orgToken": o.orgToken, "userKey": o.userKey, "requestToken": token})
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	apiURL := strings.TrimRight(o.url, "/") + "/api/v1.4"
	last := ""
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL, bytes.NewReader(body))
		if err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("upload: request %s still %s after %s", token, last, o.waitTimeout)
			}
			return "", fmt.Errorf("upload: getRequestState: %w", err)
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("upload: getRequestState: %w", err)
		}
		var st struct {
			RequestState string `json:"requestState"`
			ErrorCode    *int   `json:"errorCode"`
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return "", fmt.Errorf("upload: getRequestState answered %s", strings.TrimSpace(string(raw)))
		}
		if st.ErrorCode != nil {
			return "", fmt.Errorf("upload: getRequestState: error %d: %s", *st.ErrorCode, st.ErrorMessage)
		}
		if st.RequestState != last {
			fmt.Fprintf(env.stderr, "tally: request %s: %s\n", token, st.RequestState)
			last = st.RequestState
		}
		switch st.RequestState {
		case "FINISHED", "FAILED", "SKIPPED":
			return st.RequestState, nil
		case "UNKNOWN":
			// The request was durably queued before the upload was
			// answered, so the server does not lose track of it.
			return "", fmt.Errorf("upload: the server does not know request %s", token)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("upload: request %s still %s after %s", token, last, o.waitTimeout)
		case <-time.After(o.pollInterval):
		}
	}
}

// gzipStream compresses r as it is read.
func gzipStream(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, r)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// isTerminal reports whether w is a terminal (a character device), without
// a dependency for it.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "[#####.....]  50%  1.2/2.4 MiB" on one line, redrawn
// (with a carriage return) each time the percentage changes; with an
// unknown total it shows the bytes sent.
type progressBar struct {
	w     io.Writer
	total int64 // -1 when unknown
	done  int64
	last  int64 // the last percentage (or MiB, for an unknown total) drawn
}

const barWidth = 30

func (b *progressBar) add(n int) {
	b.done += int64(n)
	mark := b.done >> 20
	if b.total > 0 {
		mark = b.done * 100 / b.total
	}
	if mark != b.last {
		b.last = mark
		b.draw()
	}
}

func (b *progressBar) draw() {
	mib := func(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }
	if b.total <= 0 {
		fmt.Fprintf(b.w, "\rsent %s MiB", mib(b.done))
		return
	}
	pct := b.done * 100 / b.total
	filled := int(b.done * barWidth / b.total)
	fmt.Fprintf(b.w, "\r[%s%s] %3d%%  %s/%s MiB", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), pct, mib(b.done), mib(b.total))
}

func (b *progressBar) finish() {
	fmt.Fprintln(b.w)
}

type progressReader struct {
	r   io.Reader
	bar *progressBar
}

func (p *progressReader) Read(buf []byte) (int, error) {
	n, err := p.r.Read(buf)
	if n > 0 {
		p.bar.add(n)
	}
	return n, err
}
