package ingest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/internal/inventory"
)

func TestPayloadRoundTrip(t *testing.T) {
	g, err := inventory.Flatten(chain("svc", "lib", 50).Dependencies, &inventory.Budget{Limits: inventory.DefaultLimits})
	if err != nil {
		t.Fatal(err)
	}
	pl := &payload{PluginName: "fs-agent 1", ScanComment: "c", Projects: []inventory.Graph{g}}
	enc, err := encodePayload(pl)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(pl)
	if !strings.HasPrefix(string(enc), payloadPrefix) || len(enc) >= len(plain) {
		t.Errorf("encoded payload: %d bytes for %d of JSON: %.20s", len(enc), len(plain), enc)
	}
	for name, raw := range map[string][]byte{"compressed": enc, "plain JSON": plain} {
		got, err := decodePayload(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(pl, got, cmp.AllowUnexported(payload{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if _, err := decodePayload([]byte(payloadPrefix + "!!!")); err == nil {
		t.Error("a corrupt payload decoded")
	}
}

func TestRecentPayloadsBounded(t *testing.T) {
	var r recentPayloads
	mk := func(libs int) *payload {
		return &payload{Projects: []inventory.Graph{{Libs: make([]inventory.Reported, libs)}}}
	}
	r.put("huge", mk(maxRecentLibs+1))
	if r.take("huge") != nil {
		t.Error("a payload over the bound was kept")
	}
	for i := range maxRecentPayloads + 4 {
		r.put(string(rune('a'+i)), mk(10))
	}
	if len(r.order) != maxRecentPayloads || r.take("a") != nil || r.take(string(rune('a'+maxRecentPayloads+3))) == nil {
		t.Errorf("count bound: %d kept", len(r.order))
	}
	r.put("big1", mk(maxRecentLibs/2))
	r.put("big2", mk(maxRecentLibs/2))
	if r.libs > maxRecentLibs || r.take("big2") == nil {
		t.Errorf("library bound: %d held", r.libs)
	}
}
