package cli

import (
	"bytes"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testEnv(vars map[string]string) (*environment, *bytes.Buffer) {
	var errb bytes.Buffer
	return &environment{getenv: func(k string) string { return vars[k] }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb}, &errb
}

func TestUploadFlags(t *testing.T) {
	env, _ := testEnv(map[string]string{"TALLY_URL": "http://127.0.0.1:9999/", "TALLY_ORG_TOKEN": "org-from-env", "TALLY_USER_KEY": "key-from-env"})
	// Flags before and after the file; flags win over the environment.
	o, err := parseUploadFlags([]string{"--product", "Shop", "bom.json", "--user-key", "key-from-flag", "--wait", "--poll-interval", "5ms"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.file != "bom.json" || o.url != "http://127.0.0.1:9999/" || o.orgToken != "org-from-env" || o.userKey != "key-from-flag" ||
		o.product != "Shop" || !o.wait || o.pollInterval != 5*time.Millisecond || o.progress != "auto" {
		t.Errorf("options = %+v", o)
	}
	u, err := url.Parse(o.uploadURL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/sbom" || u.Query().Get("product") != "Shop" || u.Query().Has("project") {
		t.Errorf("upload URL = %s", o.uploadURL())
	}

	o, err = parseUploadFlags([]string{"--url", "https://tally.example/base", "--org-token", "o", "--user-key", "k", "--product", "P & Q",
		"--project", "api/v2", "--product-version", "1.0", "--update-type", "APPEND", "--comment", "nightly", "-"}, env)
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(o.uploadURL())
	want := url.Values{"product": {"P & Q"}, "project": {"api/v2"}, "productVersion": {"1.0"}, "updateType": {"APPEND"}, "scanComment": {"nightly"}}
	if u.Path != "/base/sbom" || u.Query().Encode() != want.Encode() || o.file != "-" {
		t.Errorf("upload URL = %s (file %q)", o.uploadURL(), o.file)
	}
}

func TestUploadFlagErrors(t *testing.T) {
	full := []string{"--org-token", "o", "--user-key", "k", "--product", "P"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no file", nil, full, "no SBOM file given"},
		{"two files", nil, append(append([]string{}, full...), "a.json", "b.json"), "one SBOM file at a time (got 2)"},
		{"no credentials", nil, []string{"--product", "P", "bom.json"}, "missing --org-token, --user-key"},
		{"no product", map[string]string{"TALLY_ORG_TOKEN": "o", "TALLY_USER_KEY": "k"}, []string{"bom.json"}, "missing --product"},
		{"bad url", nil, append(append([]string{}, full...), "--url", "127.0.0.1:8080", "bom.json"), "is not an http(s) URL"},
		{"bad progress", nil, append(append([]string{}, full...), "--progress", "sometimes", "bom.json"), "--progress must be auto, always or never"},
		{"bad poll", nil, append(append([]string{}, full...), "--wait", "--poll-interval", "0s", "bom.json"), "must be positive"},
		{"unknown flag", nil, append(append([]string{}, full...), "--colour", "bom.json"), "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := testEnv(tc.env)
			_, err := parseUploadFlags(tc.args, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestUploadMissingFile(t *testing.T) {
	env, _ := testEnv(nil)
	err := runUpload(t.Context(), []string{"--org-token", "o", "--user-key", "k", "--product", "P", filepath.Join(t.TempDir(), "none.json")}, env)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("err = %v", err)
	}
	err = runUpload(t.Context(), []string{"--org-token", "o", "--user-key", "k", "--product", "P", t.TempDir()}, env)
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("err = %v", err)
	}
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	bar := &progressBar{w: &out, total: 4 << 20, last: -1}
	r := &progressReader{r: bytes.NewReader(make([]byte, 4<<20)), bar: bar}
	buf := make([]byte, 64<<10)
	for {
		if _, err := r.Read(buf); err == io.EOF {
			break
		}
	}
	bar.finish()
	frames := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\r")[1:]
	// One frame per percentage point, 64 KiB reads of 4 MiB: 1.5625% each.
	if len(frames) != 64 {
		t.Errorf("%d frames, want 64", len(frames))
	}
	last := frames[len(frames)-1]
	if want := "[" + strings.Repeat("#", barWidth) + "] 100%  4.0/4.0 MiB"; last != want {
		t.Errorf("last frame %q, want %q", last, want)
	}
	if want := "[###############...............]  50%  2.0/4.0 MiB"; !strings.Contains(out.String(), want) {
		t.Errorf("no half-way frame %q in %q", want, out.String())
	}

	// Unknown total (standard input): bytes sent, once per MiB.
	out.Reset()
	bar = &progressBar{w: &out, total: -1, last: -1}
	bar.add(3 << 20)
	bar.add(1)
	if got := out.String(); got != "\rsent 3.0 MiB" {
		t.Errorf("unknown-total frames %q", got)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if isTerminal(f) || isTerminal(pw) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file, a pipe or a buffer taken for a terminal")
	}
	// /dev/null is a character device, as terminals are: the check is the
	// file mode, not a terminal ioctl (no dependency for that).
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	if !isTerminal(null) {
		t.Error("a character device not taken for a terminal")
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "64MiB": 64 << 20, "512 KiB": 512 << 10, "1GiB": 1 << 30} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "64MB", "lots", "2000GiB"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) accepted", in)
		}
	}
}

func TestServeRefusesBadSBOMLimit(t *testing.T) {
	env, _ := testEnv(map[string]string{"TALLY_SBOM_MAX_BYTES": "lots"})
	err := runServe(t.Context(), []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "tally.db")}, env)
	if err == nil || !strings.Contains(err.Error(), `--sbom-max-bytes: "lots" is not a positive size`) {
		t.Errorf("err = %v", err)
	}
}
