package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/api"
	"github.com/tallyhq/tally/internal/tallytest"
)

// TestProjectSetupNotificationConfig drives set/getProjectSetupNotificationConfig
// over HTTP: any case of action, both regexes required and validated for
// CUSTOM, a refused change leaving the old config, only an org-admin
// setting it.
func TestProjectSetupNotificationConfig(t *testing.T) {
	s := tallytest.Start(t)
	admin := s.Admin
	product := s.CreateProduct("P")
	productAdmin := s.CreateUser("pa@example.test", "product-admin", product)
	readonly := s.CreateUser("ro@example.test", "org-readonly", "")

	set := func(key string, fields ...string) map[string]any {
		req := map[string]any{"requestType": "setProjectSetupNotificationConfig", "userKey": key, "orgToken": admin.OrgToken}
		for i := 0; i+1 < len(fields); i += 2 {
			req[fields[i]] = fields[i+1]
		}
		return s.Call(req)
	}
	get := func(key string) string {
		t.Helper()
		m := s.MustCall(map[string]any{"requestType": "getProjectSetupNotificationConfig", "userKey": key, "orgToken": admin.OrgToken})
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	code := func(m map[string]any) int {
		c, _ := m["errorCode"].(float64)
		return int(c)
	}

	if got, want := get(admin.UserKey), `{"projectSetupNotificationConfig":{"action":"DISABLED"}}`; got != want {
		t.Errorf("never set: %s, want %s", got, want)
	}
	if m := set(admin.UserKey, "action", "Custom", "projectTagKeyRegex", "^team$", "projectTagValueRegex", "^(core|web)$"); code(m) != 0 ||
		m["message"] != "Successfully changed project setup completion notification configuration" {
		t.Fatalf("set Custom: %v", m)
	}
	saved := `{"projectSetupNotificationConfig":{"action":"CUSTOM","projectTagKeyRegex":"^team$","projectTagValueRegex":"^(core|web)$"}}`
	if got := get(admin.UserKey); got != saved {
		t.Errorf("after set: %s, want %s", got, saved)
	}
	// An org-readonly user reads it too.
	if got := get(readonly); got != saved {
		t.Errorf("read by org-readonly: %s", got)
	}

	refused := []struct {
		name   string
		key    string
		fields []string
		code   int
		field  string
	}{
		{"bad key regex", admin.UserKey, []string{"action", "CUSTOM", "projectTagKeyRegex", "([a-z", "projectTagValueRegex", ".*"}, api.CodeInvalidParameters, "projectTagKeyRegex"},
		{"bad value regex", admin.UserKey, []string{"action", "custom", "projectTagKeyRegex", ".*", "projectTagValueRegex", "a**"}, api.CodeInvalidParameters, "projectTagValueRegex"},
		{"backreference (not RE2)", admin.UserKey, []string{"action", "CUSTOM", "projectTagKeyRegex", `(a)\1`, "projectTagValueRegex", ".*"}, api.CodeInvalidParameters, "projectTagKeyRegex"},
		{"repeat count over RE2's limit", admin.UserKey, []string{"action", "CUSTOM", "projectTagKeyRegex", "a{1,5000}", "projectTagValueRegex", ".*"}, api.CodeInvalidParameters, "projectTagKeyRegex"},
		{"missing value regex", admin.UserKey, []string{"action", "CUSTOM", "projectTagKeyRegex", ".*"}, api.CodeMissingFields, "projectTagValueRegex"},
		{"missing key regex", admin.UserKey, []string{"action", "CUSTOM", "projectTagValueRegex", ".*"}, api.CodeMissingFields, "projectTagKeyRegex"},
		{"blank key regex", admin.UserKey, []string{"action", "CUSTOM", "projectTagKeyRegex", "  ", "projectTagValueRegex", ".*"}, api.CodeMissingFields, "projectTagKeyRegex"},
		{"regex too long", admin.UserKey, []string{"action", "CUSTOM", "projectTagKeyRegex", strings.Repeat("a", 1025), "projectTagValueRegex", ".*"}, api.CodeInvalidParameters, "projectTagKeyRegex"},
		{"unknown action", admin.UserKey, []string{"action", "ALWAYS"}, api.CodeInvalidParameters, "action"},
		{"product admin", productAdmin, []string{"action", "DISABLED"}, api.CodeNotAllowed, ""},
		{"org readonly", readonly, []string{"action", "ENABLED"}, api.CodeNotAllowed, ""},
	}
	for _, c := range refused {
		m := set(c.key, c.fields...)
		if code(m) != c.code || !strings.Contains(fmt.Sprint(m["errorMessage"]), c.field) {
			t.Errorf("%s: %v, want error %d naming %q", c.name, m, c.code, c.field)
		}
		if got := get(admin.UserKey); got != saved {
			t.Errorf("%s changed the config: %s", c.name, got)
		}
	}

	// ENABLED and DISABLED in any case; regexes given with them are not kept.
	for _, action := range []string{"enabled", "Disabled", "ENABLED"} {
		if m := set(admin.UserKey, "action", action, "projectTagKeyRegex", "ignored"); code(m) != 0 {
			t.Fatalf("set %s: %v", action, m)
		}
		want := fmt.Sprintf(`{"projectSetupNotificationConfig":{"action":"%s"}}`, strings.ToUpper(action))
		if got := get(admin.UserKey); got != want {
			t.Errorf("after %s: %s, want %s", action, got, want)
		}
	}
}
