package api

import (
	"bytes"
	"encoding/json"
	"testing"
)

func stdEncodeString(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// appendString must write exactly what encoding/json writes.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline\r", "\x00\x01\x1f", "<html>&",
		"caf\u00e9", "\u2028\u2029", "bad\xffutf8\xc3", "emoji \U0001F600", "errorCode", "an errorMessage here"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		want := escapeErrorWords(stdEncodeString(t, s))
		if !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
		}
		if bytes.Contains(got, []byte("errorCode")) || bytes.Contains(got, []byte("errorMessage")) {
			t.Fatalf("appendString(%q) = %s: error word not escaped", s, got)
		}
	})
}
