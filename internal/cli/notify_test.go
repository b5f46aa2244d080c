package cli_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/cli"
	"github.com/tallyhq/tally/internal/notify/notifytest"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

func TestServeWithoutSMTPSaysSo(t *testing.T) {
	s := tallytest.Start(t)
	if !strings.Contains(s.Logs(), "no SMTP server configured") {
		t.Errorf("start-up logs do not say that mail is not sent:\n%s", s.Logs())
	}
}

func TestServeWithSMTPFromEnvironment(t *testing.T) {
	mail := notifytest.Start(t)
	s := tallytest.Start(t, tallytest.WithEnv(mail.Env()))
	logs := s.Logs()
	if !strings.Contains(logs, "notifications: mailing through SMTP") || !strings.Contains(logs, "smtp="+mail.Addr()) ||
		!strings.Contains(logs, "tls=none") || strings.Contains(logs, "no SMTP server configured") {
		t.Errorf("start-up logs do not name the SMTP server %s:\n%s", mail.Addr(), logs)
	}
}

// runServe runs tally serve with args and env and returns its error, which
// must come before it listens.
func runServe(t *testing.T, env map[string]string, args ...string) error {
	t.Helper()
	db := filepath.Join(t.TempDir(), "tally.db")
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, args...)
	err := cli.Run(context.Background(), all, getenv, strings.NewReader(""), &out, &errb)
	if err == nil {
		t.Fatalf("serve %v: no error; output %s", args, out.String())
	}
	return err
}

func TestServeRefusesIncompleteSMTPSettings(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"host without from", map[string]string{"TALLY_SMTP_HOST": "127.0.0.1"}, nil, "--smtp-from"},
		{"bad tls mode", nil, []string{"--smtp-host", "127.0.0.1", "--smtp-from", "a@b.test", "--smtp-tls", "ssl"}, "TLS mode"},
		{"bad port", map[string]string{"TALLY_SMTP_HOST": "127.0.0.1", "TALLY_SMTP_FROM": "a@b.test", "TALLY_SMTP_PORT": "99999"}, nil, "--smtp-port"},
		{"bad from", nil, []string{"--smtp-host", "127.0.0.1", "--smtp-from", "nobody"}, "sender address"},
		{"username without host", map[string]string{"TALLY_SMTP_USERNAME": "u"}, nil, "--smtp-host"},
		{"bad retry", nil, []string{"--notify-retry-initial", "soon"}, "--notify-retry-initial"},
		{"bad attempts", map[string]string{"TALLY_NOTIFY_MAX_ATTEMPTS": "0"}, nil, "--notify-max-attempts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := runServe(t, c.env, c.args...)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

var webhookSecret = regexp.MustCompile(`^whsec_[0-9a-f]{64}$`)

func TestAdminSetWebhook(t *testing.T) {
	s := tallytest.Start(t)
	org := s.Admin.OrgToken
	first := s.AdminJSON("set-webhook", "--org-token", org, "--url", "http://127.0.0.1:9/hook")
	secret, _ := first["secret"].(string)
	if first["url"] != "http://127.0.0.1:9/hook" || !webhookSecret.MatchString(secret) {
		t.Fatalf("set-webhook: %v", first)
	}

	st, err := store.Open(context.Background(), s.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o, err := st.OrgByToken(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() store.Webhook {
		t.Helper()
		w, err := st.WebhookOf(context.Background(), o.ID)
		if err != nil {
			t.Fatalf("webhook: %v", err)
		}
		return w
	}
	if w := stored(); w.URL != "http://127.0.0.1:9/hook" || w.Secret != secret {
		t.Errorf("stored %+v", w)
	}

	// A new URL keeps the secret; --rotate-secret makes a new one.
	again := s.AdminJSON("set-webhook", "--org-token", org, "--url", "https://127.0.0.1:8443/other")
	if again["secret"] != secret || stored().URL != "https://127.0.0.1:8443/other" {
		t.Errorf("changing the URL: %v", again)
	}
	rotated := s.AdminJSON("set-webhook", "--org-token", org, "--url", "https://127.0.0.1:8443/other", "--rotate-secret")
	if rotated["secret"] == secret || !webhookSecret.MatchString(rotated["secret"].(string)) || stored().Secret != rotated["secret"] {
		t.Errorf("rotating: %v", rotated)
	}

	for _, args := range [][]string{
		{"--org-token", org, "--url", "ftp://127.0.0.1/x"},
		{"--org-token", org, "--url", "not a url"},
		{"--org-token", org, "--url", "http://user:pw@127.0.0.1/x"},
		{"--org-token", org},
		{"--org-token", "unknown", "--url", "http://127.0.0.1/x"},
		{"--org-token", org, "--url", "http://127.0.0.1/x", "--remove"},
	} {
		if _, err := s.RunCLI(append([]string{"admin", "set-webhook"}, args...)...); err == nil {
			t.Errorf("set-webhook %v: no error", args)
		}
	}

	removed := s.AdminJSON("set-webhook", "--org-token", org, "--remove")
	if removed["removed"] != true {
		t.Errorf("remove: %v", removed)
	}
	if _, err := st.WebhookOf(context.Background(), o.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after remove: %v", err)
	}
}

func TestAdminOutbox(t *testing.T) {
	s := tallytest.Start(t)
	out, err := s.RunCLI("admin", "outbox", "--org-token", s.Admin.OrgToken)
	if err != nil || strings.TrimSpace(out) != "the outbox is empty" {
		t.Errorf("empty outbox: %q, %v", out, err)
	}
	if rows := s.AdminJSON("outbox", "--org-token", s.Admin.OrgToken)["outbox"]; rows == nil || len(rows.([]any)) != 0 {
		t.Errorf("empty outbox as JSON: %v", rows)
	}
	for _, args := range [][]string{
		{"--org-token", s.Admin.OrgToken, "--state", "LOST"},
		{"--org-token", s.Admin.OrgToken, "--limit", "0"},
		{"--org-token", "unknown"},
		{},
	} {
		if _, err := s.RunCLI(append([]string{"admin", "outbox"}, args...)...); err == nil {
			t.Errorf("admin outbox %v: no error", args)
		}
	}
}
