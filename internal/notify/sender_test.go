package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/notify"
	"github.com/tallyhq/tally/internal/notify/notifytest"
	"github.com/tallyhq/tally/internal/store"
)

func TestSMTPDownThenBackDeliversAfter(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	srv.Down()
	w.config("ENABLED", "", "")
	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	id := w.emailFor(p.ID).ID

	// Failed attempts are recorded with their error; the mail stays pending.
	// Two failures recorded: the second attempt has ended (its lease is
	// released), not merely begun with the first failure's error still set.
	failed := w.waitOutbox(id, "failed twice", func(m store.OutboxMessage) bool {
		return m.Attempts >= 2 && m.LastError != "" && m.LeaseOwner == ""
	})
	if failed.State != store.OutboxPending || !strings.Contains(failed.LastError, srv.Addr()) {
		t.Fatalf("after failures: state %s, last error %q", failed.State, failed.LastError)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("a message arrived while the server was down")
	}

	srv.Up()
	msgs := srv.WaitMessages(1, wait)
	if !strings.Contains(msgs[0].Subject, "/ p") {
		t.Errorf("subject = %q", msgs[0].Subject)
	}
	sent := w.waitOutbox(id, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	if sent.Attempts < 3 || sent.LastError != "" {
		t.Errorf("sent after %d attempts with last error %q; want ≥3 attempts and the error cleared", sent.Attempts, sent.LastError)
	}
}

func TestRestartWithPendingMail(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	srv.Down()
	w.config("ENABLED", "", "")
	_, stop := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	id := w.emailFor(p.ID).ID
	w.waitOutbox(id, "attempted", func(m store.OutboxMessage) bool { return m.Attempts >= 1 && m.LastError != "" })

	// The server stops: its sender ends and its database closes.
	stop()
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(w.ctx, w.dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { st2.Close() })
	w.st = st2
	m := w.emailFor(p.ID)
	if m.State != store.OutboxPending || m.LeaseOwner != "" {
		t.Fatalf("after stop: state %s, lease %q; want PENDING and released", m.State, m.LeaseOwner)
	}

	// The next start, with the SMTP server back, delivers it.
	srv.Up()
	runSender(t, st2, notify.SenderConfig{SMTP: smtpConfig(srv)})
	srv.WaitMessages(1, wait)
	w.waitOutbox(id, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
}

func TestNoSMTPLeavesMailPendingForAServerWithSMTP(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	// The organization's webhook is the witness that the sender without
	// SMTP went through the outbox after the mail was recorded.
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(http.StatusOK) }))
	t.Cleanup(hook.Close)
	if _, err := w.st.SetWebhook(w.ctx, w.org.ID, hook.URL, "whsec_x"); err != nil {
		t.Fatal(err)
	}
	noSMTP, stopNoSMTP := runSender(t, w.st, notify.SenderConfig{})
	if noSMTP.EmailConfigured() {
		t.Fatal("EmailConfigured without SMTP")
	}
	n := notify.NewNotifier(w.st, notify.NotifierOptions{Wake: noSMTP.Kick})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	for _, m := range w.outbox() {
		if m.Channel == store.ChannelWebhook {
			w.waitOutbox(m.ID, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
		}
	}
	stopNoSMTP()
	// A server without SMTP does not take mail it cannot send.
	if m := w.emailFor(p.ID); m.State != store.OutboxPending || m.Attempts != 0 {
		t.Fatalf("without SMTP: state %s after %d attempts, want PENDING untouched", m.State, m.Attempts)
	}
	srv := notifytest.Start(t)
	runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	srv.WaitMessages(1, wait)
}

// The SMTP server refuses the requester's address for good: the others are
// mailed all the same, and the refusal is kept with the SENT row.
func TestRefusedRecipientDoesNotBlockTheOthers(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	w.config("ENABLED", "", "")
	w.user("pa@acme.test", auth.ProductAdmin, w.product.ID)
	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})
	p := w.project("p")
	w.complete(n, w.event(p, "nobody@reject.test"))
	m := w.waitOutbox(w.emailFor(p.ID).ID, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	if m.Attempts != 1 || !strings.Contains(m.LastError, "nobody@reject.test") || !strings.Contains(m.LastError, "550") {
		t.Errorf("sent row: attempts %d, last error %q; want one attempt and the refusal", m.Attempts, m.LastError)
	}
	var got []string
	for _, msg := range srv.Messages() {
		got = append(got, msg.To...)
		if msg.Header.Get("Message-Id") != srv.Messages()[0].Header.Get("Message-Id") {
			t.Errorf("copies carry different Message-IDs")
		}
	}
	if want := []string{"boss@acme.test", "pa@acme.test"}; !slices.Equal(sorted(got), want) {
		t.Errorf("delivered to %v, want %v", got, want)
	}
}

// Every recipient refused for good: given up at once.
func TestPermanentRefusalIsGivenUp(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	w.config("ENABLED", "", "")
	if _, err := w.st.DB().ExecContext(w.ctx, `UPDATE users SET email = 'boss@reject.test' WHERE org_id = $1`, w.org.ID); err != nil {
		t.Fatal(err)
	}
	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})
	p := w.project("p")
	w.complete(n, w.event(p, "nobody@reject.test"))
	m := w.waitOutbox(w.emailFor(p.ID).ID, "FAILED", func(m store.OutboxMessage) bool { return m.State == store.OutboxFailed })
	if m.Attempts != 1 || !strings.Contains(m.LastError, "550") {
		t.Errorf("failed row: attempts %d, last error %q; want one attempt and the 550", m.Attempts, m.LastError)
	}
	if len(srv.Messages()) != 0 {
		t.Errorf("%d messages delivered", len(srv.Messages()))
	}
}

func TestGivenUpAfterMaxAttempts(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	srv.Down()
	w.config("ENABLED", "", "")
	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv), MaxAttempts: 3})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	m := w.waitOutbox(w.emailFor(p.ID).ID, "FAILED", func(m store.OutboxMessage) bool { return m.State == store.OutboxFailed })
	if m.Attempts != 3 || !strings.Contains(m.LastError, "gave up after 3 attempts") {
		t.Errorf("attempts %d, last error %q", m.Attempts, m.LastError)
	}
}

func TestSMTPAuth(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t, notifytest.WithAuth("tally", "s3cret"))
	w.config("ENABLED", "", "")

	// Wrong password: refused, retried, recorded.
	bad := smtpConfig(srv)
	bad.Username, bad.Password = "tally", "wrong"
	_, stopBad := runSender(t, w.st, notify.SenderConfig{SMTP: bad, MaxAttempts: 1})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true})
	p1 := w.project("p1")
	w.complete(n, w.event(p1, ""))
	m := w.waitOutbox(w.emailFor(p1.ID).ID, "FAILED", func(m store.OutboxMessage) bool { return m.State == store.OutboxFailed })
	if !strings.Contains(m.LastError, "535") {
		t.Errorf("last error %q, want the server's 535", m.LastError)
	}
	stopBad()

	good := smtpConfig(srv)
	good.Username, good.Password = "tally", "s3cret"
	runSender(t, w.st, notify.SenderConfig{SMTP: good})
	p2 := w.project("p2")
	w.complete(n, w.event(p2, ""))
	got := srv.WaitMessages(1, wait)[0]
	if got.AuthUser != "tally" || !strings.Contains(got.Subject, "p2") {
		t.Errorf("message authenticated as %q, subject %q", got.AuthUser, got.Subject)
	}
}

// Two senders on one database (two servers sharing it) never deliver a
// message twice while their leases hold.
func TestConcurrentSendersDeliverEachMessageOnce(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	w.config("ENABLED", "", "")
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true})
	const count = 12
	for i := range count {
		w.complete(n, w.event(w.project("p"+strconv.Itoa(i)), ""))
	}
	st2, err := store.Open(w.ctx, w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv), Poll: time.Millisecond})
	runSender(t, st2, notify.SenderConfig{SMTP: smtpConfig(srv), Poll: time.Millisecond})
	srv.WaitMessages(count, wait)
	for _, m := range w.outbox() {
		w.waitOutbox(m.ID, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	}
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[m.Subject]++
	}
	if len(seen) != count {
		t.Errorf("%d distinct subjects, want %d", len(seen), count)
	}
	for s, k := range seen {
		if k != 1 {
			t.Errorf("%q delivered %d times", s, k)
		}
	}
}

func TestClaimLease(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	n := notify.NewNotifier(w.st, notify.NotifierOptions{})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	now := time.Now()

	a, ok, err := w.st.ClaimOutbox(w.ctx, store.ChannelEmail, "a", now, time.Minute)
	if err != nil || !ok || a.Attempts != 1 || a.LeaseOwner != "a" {
		t.Fatalf("first claim: %+v %v %v", a, ok, err)
	}
	if _, ok, err := w.st.ClaimOutbox(w.ctx, store.ChannelEmail, "b", now.Add(59*time.Second), time.Minute); err != nil || ok {
		t.Fatalf("claim under a running lease: ok %v, err %v", ok, err)
	}
	if _, ok, _ := w.st.ClaimOutbox(w.ctx, store.ChannelWebhook, "b", now.Add(2*time.Minute), time.Minute); ok {
		t.Fatal("claimed a mail as a webhook")
	}
	// a died; its lease expires and b takes the message over.
	b, ok, err := w.st.ClaimOutbox(w.ctx, store.ChannelEmail, "b", now.Add(61*time.Second), time.Minute)
	if err != nil || !ok || b.ID != a.ID || b.Attempts != 2 {
		t.Fatalf("claim after expiry: %+v %v %v", b, ok, err)
	}
	if err := w.st.MarkOutboxSent(w.ctx, a.ID, "a", "", now); !errors.Is(err, store.ErrOutboxLeaseLost) {
		t.Errorf("outcome from the old holder: %v, want ErrOutboxLeaseLost", err)
	}
	if err := w.st.MarkOutboxRetry(w.ctx, b.ID, "b", "temporary", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := w.st.ClaimOutbox(w.ctx, store.ChannelEmail, "c", now.Add(2*time.Minute), time.Minute); ok {
		t.Error("claimed before its retry time")
	}
	c, ok, err := w.st.ClaimOutbox(w.ctx, store.ChannelEmail, "c", now.Add(time.Hour), time.Minute)
	if err != nil || !ok || c.Attempts != 3 || c.LastError != "temporary" {
		t.Fatalf("claim at retry time: %+v %v %v", c, ok, err)
	}
}

// Many claimers racing on two handles each get different messages.
func TestConcurrentClaimsAreExclusive(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	n := notify.NewNotifier(w.st, notify.NotifierOptions{})
	const count = 30
	for i := range count {
		w.complete(n, w.event(w.project("p"+strconv.Itoa(i)), ""))
	}
	st2, err := store.Open(w.ctx, w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	var mu sync.Mutex
	claimed := map[int64]string{}
	var wg sync.WaitGroup
	for g := range 6 {
		st := w.st
		if g%2 == 1 {
			st = st2
		}
		wg.Go(func() {
			idle := 0
			for idle < 50 {
				owner := "g" + strconv.Itoa(g)
				m, ok, err := st.ClaimOutbox(context.Background(), store.ChannelEmail, owner, time.Now(), time.Hour)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if !ok {
					idle++
					continue
				}
				mu.Lock()
				if prev, dup := claimed[m.ID]; dup {
					t.Errorf("message %d claimed by %s and %s", m.ID, prev, owner)
				}
				claimed[m.ID] = owner
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != count {
		t.Errorf("%d messages claimed, want %d", len(claimed), count)
	}
}

type hookCall struct {
	header http.Header
	body   []byte
}

func TestWebhookSignedAndRetried(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	var mu sync.Mutex
	var calls []hookCall
	got := make(chan struct{}, 10)
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, hookCall{r.Header.Clone(), b})
		first := len(calls) == 1
		mu.Unlock()
		if first {
			http.Error(rw, "try later", http.StatusServiceUnavailable)
		} else {
			rw.WriteHeader(http.StatusNoContent)
		}
		got <- struct{}{}
	}))
	t.Cleanup(ts.Close)
	secret, err := notify.NewWebhookSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.SetWebhook(w.ctx, w.org.ID, ts.URL+"/hook", secret); err != nil {
		t.Fatal(err)
	}

	// No SMTP: webhooks are delivered all the same.
	sender, _ := runSender(t, w.st, notify.SenderConfig{})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{Wake: sender.Kick})
	p := w.project("hooked")
	w.complete(n, w.event(p, "dev@x.test"))

	var hook store.OutboxMessage
	for _, m := range w.outbox() {
		if m.Channel == store.ChannelWebhook {
			hook = m
		}
	}
	if hook.ID == 0 {
		t.Fatal("no webhook row in the outbox")
	}
	sent := w.waitOutbox(hook.ID, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	if sent.Attempts != 2 {
		t.Errorf("webhook sent after %d attempts, want 2 (503 then 204)", sent.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	for _, c := range calls {
		tsHeader := c.header.Get("X-Tally-Timestamp")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(tsHeader + "." + string(c.body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if c.header.Get("X-Tally-Signature") != want {
			t.Errorf("signature %q, want %q", c.header.Get("X-Tally-Signature"), want)
		}
		if c.header.Get("X-Tally-Event") != "project.setup.completed" || c.header.Get("X-Tally-Delivery") != strconv.FormatInt(hook.ID, 10) {
			t.Errorf("headers: %v", c.header)
		}
	}
	var ev map[string]any
	if err := json.Unmarshal(calls[1].body, &ev); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"event": "project.setup.completed", "organization": "Acme & Co", "product": "Rocket", "project": "hooked",
		"projectToken": p.Token, "libraries": 42.0, "requestToken": "req-" + p.Token, "requesterEmail": "dev@x.test",
		"finishedAt": "2026-12-03T17:30:05Z",
	}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("payload %s = %v, want %v", k, ev[k], v)
		}
	}
	// Without SMTP the mail itself waits.
	if m := w.emailFor(p.ID); m.State != store.OutboxPending || m.Attempts != 0 {
		t.Errorf("mail: %s after %d attempts", m.State, m.Attempts)
	}
}

func TestWebhookClientErrorIsGivenUp(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Error(rw, "no such hook", http.StatusNotFound)
	}))
	t.Cleanup(ts.Close)
	if _, err := w.st.SetWebhook(w.ctx, w.org.ID, ts.URL, "whsec_x"); err != nil {
		t.Fatal(err)
	}
	sender, _ := runSender(t, w.st, notify.SenderConfig{})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{Wake: sender.Kick})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	var id int64
	for _, m := range w.outbox() {
		if m.Channel == store.ChannelWebhook {
			id = m.ID
		}
	}
	m := w.waitOutbox(id, "FAILED", func(m store.OutboxMessage) bool { return m.State == store.OutboxFailed })
	if m.Attempts != 1 || !strings.Contains(m.LastError, "404") {
		t.Errorf("attempts %d, last error %q", m.Attempts, m.LastError)
	}
}

func TestNoWebhookRowWhenNotNotifying(t *testing.T) {
	w := newWorld(t)
	w.config("DISABLED", "", "")
	if _, err := w.st.SetWebhook(w.ctx, w.org.ID, "http://127.0.0.1:1/hook", "whsec_x"); err != nil {
		t.Fatal(err)
	}
	n := notify.NewNotifier(w.st, notify.NotifierOptions{})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	rows := w.outbox()
	if len(rows) != 1 || rows[0].Channel != store.ChannelEmail || rows[0].State != store.OutboxSkipped {
		t.Errorf("outbox = %+v, want one skipped mail row", rows)
	}
}

func TestSMTPConfigChecks(t *testing.T) {
	st := newWorld(t).st
	for _, c := range []notify.SMTPConfig{
		{Host: "", From: "a@b.test"},
		{Host: "h", From: ""},
		{Host: "h", From: "not an address"},
		{Host: "h", From: "a@b.test", TLS: "ssl"},
		{Host: "h", From: "a@b.test", Password: "p"},
	} {
		if _, err := notify.NewSender(st, notify.SenderConfig{SMTP: &c}); err == nil {
			t.Errorf("NewSender accepted %+v", c)
		}
	}
	c := notify.SMTPConfig{Host: "h", From: "a@b.test", TLS: "tls"}
	if _, err := notify.NewSender(st, notify.SenderConfig{SMTP: &c}); err != nil || c.Port != 465 {
		t.Errorf("tls mode: err %v, port %d; want 465", err, c.Port)
	}
}
