package store

import (
	"encoding/json"
	"slices"
	"testing"
)

// decodeLicenses' fast path must read what encoding/json would.
func FuzzDecodeLicenses(f *testing.F) {
	for _, l := range [][]string{nil, {}, {"MIT"}, {"Apache-2.0", "MIT"}, {`a"b`}, {`x","y`}, {"back\\slash"}, {""}, {"", ""}, {"é", "\u2028"}} {
		b, _ := json.Marshal(l)
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want []string
		if json.Unmarshal([]byte(s), &want) != nil {
			return // not what the store writes
		}
		b, _ := json.Marshal(want)
		got, err := decodeLicenses(string(b))
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 && len(got) == 0 {
			return
		}
		if !slices.Equal(got, want) {
			t.Fatalf("decodeLicenses(%s) = %q, want %q", b, got, want)
		}
	})
}
