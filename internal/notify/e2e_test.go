package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/notify/notifytest"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// agentUpload posts one UPDATE of a project with tags and n libraries to
// /agent, as the Unified Agent does, and returns the request token.
func agentUpload(t *testing.T, s *tallytest.Server, product, project string, tags map[string]string, n int, requester string) string {
	t.Helper()
	var deps []map[string]any
	for i := range n {
		deps = append(deps, map[string]any{
			"groupId": "org.e2e", "artifactId": fmt.Sprintf("lib-%d", i), "version": "1.0",
			"sha1": fmt.Sprintf("%040x", 0xe2e000+i), "filename": fmt.Sprintf("lib-%d-1.0.jar", i), "type": "jar",
		})
	}
	var projectTags []map[string]string
	for k, v := range tags {
		projectTags = append(projectTags, map[string]string{"tagKey": k, "tagValue": v})
	}
	diff, err := json.Marshal([]map[string]any{{
		"coordinates":  map[string]any{"artifactId": project},
		"projectTags":  projectTags,
		"dependencies": deps,
	}})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{
		"type": {"UPDATE"}, "agent": {"fs-agent"}, "agentVersion": {"2.3.9"},
		"token": {s.Admin.OrgToken}, "userKey": {s.Admin.UserKey}, "product": {product},
		"timeStamp": {fmt.Sprint(time.Now().UnixMilli())}, "diff": {string(diff)},
	}
	if requester != "" {
		form.Set("requesterEmail", requester)
	}
	status, body := s.Post("/agent", "application/x-www-form-urlencoded", []byte(form.Encode()))
	var env struct {
		Status int    `json:"status"`
		Data   string `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || status != http.StatusOK || env.Status != 1 {
		t.Fatalf("POST /agent: HTTP %d: %s", status, body)
	}
	var res struct {
		RequestToken string `json:"requestToken"`
	}
	if err := json.Unmarshal([]byte(env.Data), &res); err != nil || res.RequestToken == "" {
		t.Fatalf("POST /agent: no request token in %s", body)
	}
	return res.RequestToken
}

// waitFinished polls getRequestState until the request is FINISHED.
func waitFinished(t *testing.T, s *tallytest.Server, token string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		m := s.MustCall(map[string]any{"requestType": "getRequestState", "userKey": s.Admin.UserKey,
			"orgToken": s.Admin.OrgToken, "requestToken": token})
		switch m["requestState"] {
		case "FINISHED":
			return
		case "IN_PROGRESS", "UPDATED":
		default:
			t.Fatalf("request %s: %v", token, m)
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s not FINISHED within %v: %v", token, wait, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// outboxOf reads the server's outbox through a store opened on its database.
func outboxOf(t *testing.T, s *tallytest.Server) map[string]store.OutboxMessage {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, s.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, err := st.OrgByToken(ctx, s.Admin.OrgToken)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.OutboxOf(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.OutboxMessage{}
	for _, m := range msgs {
		var name string
		if err := st.DB().QueryRowContext(ctx, `SELECT name FROM projects WHERE id = $1`, m.ProjectID).Scan(&name); err != nil {
			t.Fatal(err)
		}
		key := name + "/" + m.Channel
		if _, dup := out[key]; dup {
			t.Errorf("two %s outbox rows for project %s", m.Channel, name)
		}
		out[key] = m
	}
	return out
}

func waitOutboxState(t *testing.T, s *tallytest.Server, key, what string, cond func(store.OutboxMessage) bool) store.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		m, ok := outboxOf(t, s)[key]
		if ok && cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox %s not %s within %v: %+v", key, what, wait, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// End to end: agents upload new projects with tags through /agent; when
// each first update is FINISHED the server decides by the organization's
// CUSTOM config and mails the administrators and the requester over SMTP.
func TestEndToEndAgentUploadMailsOnSetup(t *testing.T) {
	mail := notifytest.Start(t)
	s := tallytest.Start(t, tallytest.WithEnv(mail.Env()), tallytest.WithEnv(map[string]string{
		"TALLY_NOTIFY_POLL": "50ms", "TALLY_NOTIFY_RETRY_INITIAL": "20ms", "TALLY_NOTIFY_RETRY_MAX": "100ms",
	}))
	s.MustCall(map[string]any{"requestType": "setProjectSetupNotificationConfig", "userKey": s.Admin.UserKey,
		"orgToken": s.Admin.OrgToken, "action": "Custom", "projectTagKeyRegex": "^team$", "projectTagValueRegex": "^core$"})
	product := s.CreateProduct("Platform")
	s.CreateUser("lead@platform.test", "product-admin", product)
	s.CreateUser("dev@platform.test", "product-member", product)

	web := agentUpload(t, s, "Platform", "svc-web", map[string]string{"team": "web", "tier": "core"}, 2, "")
	core := agentUpload(t, s, "Platform", "svc-core", map[string]string{"team": "core"}, 3, "dev@platform.test")
	waitFinished(t, s, web)
	waitFinished(t, s, core)

	m := mail.WaitMessages(1, wait)[0]
	if want := []string{"admin@localhost", "dev@platform.test", "lead@platform.test"}; !slices.Equal(sorted(m.To), want) {
		t.Errorf("recipients %v, want %v", m.To, want)
	}
	if want := "Project setup completed: " + s.Admin.OrgName + " / Platform / svc-core"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	for _, part := range []string{m.Text, m.HTML} {
		for _, want := range []string{s.Admin.OrgName, "Platform", "svc-core", core, "UTC", "dev@platform.test"} {
			if !strings.Contains(part, want) {
				t.Errorf("mail part lacks %q:\n%s", want, part)
			}
		}
	}
	if !strings.Contains(m.Text, "Libraries:      3\n") || !strings.Contains(m.HTML, "<td>3</td>") {
		t.Errorf("mail does not count 3 libraries:\n%s", m.Text)
	}

	// Both decisions were recorded with the FINISHED state; only the
	// matching project had mail to send.
	sent := waitOutboxState(t, s, "svc-core/email", "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	if sent.Attempts != 1 {
		t.Errorf("svc-core mail sent after %d attempts", sent.Attempts)
	}
	rows := outboxOf(t, s)
	if r := rows["svc-web/email"]; r.State != store.OutboxSkipped || !strings.Contains(r.Note, "no project tag matches") {
		t.Errorf("svc-web: %s %q, want SKIPPED with the reason", r.State, r.Note)
	}
	if len(mail.Messages()) != 1 {
		t.Errorf("%d messages, want 1", len(mail.Messages()))
	}

	// `tally admin outbox` shows the same record.
	listed := s.AdminJSON("outbox", "--org-token", s.Admin.OrgToken)["outbox"].([]any)
	if len(listed) != 2 {
		t.Fatalf("admin outbox lists %d rows, want 2: %v", len(listed), listed)
	}
	newest, oldest := listed[0].(map[string]any), listed[1].(map[string]any)
	if newest["state"] != "SENT" || newest["attempts"] != 1.0 || !strings.HasSuffix(newest["subject"].(string), "svc-core") ||
		oldest["state"] != "SKIPPED" || !strings.Contains(oldest["note"].(string), "no project tag matches") {
		t.Errorf("admin outbox: %v", listed)
	}
	if skipped := s.AdminJSON("outbox", "--org-token", s.Admin.OrgToken, "--state", "skipped")["outbox"].([]any); len(skipped) != 1 {
		t.Errorf("admin outbox --state skipped: %v", skipped)
	}

	// A later update of the same project is not a setup: nothing new.
	again := agentUpload(t, s, "Platform", "svc-core", map[string]string{"team": "core"}, 4, "")
	waitFinished(t, s, again)
	if rows := outboxOf(t, s); len(rows) != 2 {
		t.Errorf("outbox has %d rows after a second update, want 2", len(rows))
	}

	// The SMTP server goes down; a new project's mail waits, survives a
	// restart of Tally, and is delivered once the SMTP server is back.
	mail.Down()
	late := agentUpload(t, s, "Platform", "svc-late", map[string]string{"team": "core"}, 1, "")
	waitFinished(t, s, late)
	failed := waitOutboxState(t, s, "svc-late/email", "attempted", func(m store.OutboxMessage) bool { return m.Attempts >= 1 && m.LastError != "" })
	if failed.State != store.OutboxPending {
		t.Fatalf("svc-late mail %s after a failed attempt", failed.State)
	}
	s.Stop()
	mail.Up()
	s.Restart()
	msgs := mail.WaitMessages(2, wait)
	if !strings.HasSuffix(msgs[1].Subject, "/ svc-late") {
		t.Errorf("second message %q, want svc-late's", msgs[1].Subject)
	}
	done := waitOutboxState(t, s, "svc-late/email", "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	if done.Attempts < 2 {
		t.Errorf("svc-late sent after %d attempts, want ≥2", done.Attempts)
	}
}

// End to end without SMTP: the webhook set with `tally admin set-webhook`
// receives the signed event; the mail is recorded, logged and left pending.
func TestEndToEndWebhookWithoutSMTP(t *testing.T) {
	calls := make(chan hookCall, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- hookCall{r.Header.Clone(), b}
		rw.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hook.Close)
	s := tallytest.Start(t, tallytest.WithEnv(map[string]string{"TALLY_NOTIFY_POLL": "50ms"}))
	secret, _ := s.AdminJSON("set-webhook", "--org-token", s.Admin.OrgToken, "--url", hook.URL+"/tally")["secret"].(string)
	if secret == "" {
		t.Fatal("set-webhook printed no secret")
	}
	s.MustCall(map[string]any{"requestType": "setProjectSetupNotificationConfig", "userKey": s.Admin.UserKey,
		"orgToken": s.Admin.OrgToken, "action": "ENABLED"})
	s.CreateProduct("Hooks")
	token := agentUpload(t, s, "Hooks", "svc-hooked", nil, 2, "")
	waitFinished(t, s, token)

	var c hookCall
	select {
	case c = <-calls:
	case <-time.After(wait):
		t.Fatal("no webhook call")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(c.header.Get("X-Tally-Timestamp") + "." + string(c.body)))
	if got, want := c.header.Get("X-Tally-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	var ev map[string]any
	if err := json.Unmarshal(c.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["project"] != "svc-hooked" || ev["product"] != "Hooks" || ev["requestToken"] != token || ev["libraries"] != 2.0 {
		t.Errorf("event %v", ev)
	}
	waitOutboxState(t, s, "svc-hooked/webhook", "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	if m := outboxOf(t, s)["svc-hooked/email"]; m.State != store.OutboxPending || m.Attempts != 0 {
		t.Errorf("mail without SMTP: %s after %d attempts, want PENDING", m.State, m.Attempts)
	}
	if !strings.Contains(s.Logs(), "mail recorded in the outbox; no SMTP server is configured") {
		t.Errorf("the recorded mail was not logged:\n%s", s.Logs())
	}
}
