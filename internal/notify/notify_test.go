package notify_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/notify"
	"github.com/tallyhq/tally/internal/notify/notifytest"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// wait bounds a hung test; no test asserts anything about speed.
const wait = 60 * time.Second

// world is an organization with a product and a project on a real database
// (SQLite, or PostgreSQL under TALLY_TEST_POSTGRES).
type world struct {
	t       *testing.T
	ctx     context.Context
	dsn     string
	st      *store.Store
	org     store.Org
	product store.Product
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	dsn := tallytest.NewDatabase(t, t.TempDir())
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	org, err := st.CreateOrg(ctx, "Acme & Co", "boss@acme.test", auth.HashKey(auth.NewKey()))
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	product, err := st.CreateProduct(ctx, org.ID, "Rocket")
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	return &world{t: t, ctx: ctx, dsn: dsn, st: st, org: org, product: product}
}

func (w *world) user(email string, role auth.Role, productID int64) {
	w.t.Helper()
	if _, err := w.st.CreateUser(w.ctx, w.org.ID, email, auth.HashKey(auth.NewKey()), role, productID); err != nil {
		w.t.Fatalf("create user %s: %v", email, err)
	}
}

func (w *world) config(action, key, value string) {
	w.t.Helper()
	if err := w.st.SetNotificationConfig(w.ctx, w.org.ID, store.NotificationConfig{Action: action, KeyRegex: key, ValueRegex: value}); err != nil {
		w.t.Fatalf("set config: %v", err)
	}
}

func (w *world) project(name string, tags ...[2]string) store.Project {
	w.t.Helper()
	p, err := w.st.CreateProject(w.ctx, w.product, name, "")
	if err != nil {
		w.t.Fatalf("create project: %v", err)
	}
	for _, kv := range tags {
		if err := w.st.AddTag(w.ctx, store.ProjectTag, p.ID, kv[0], kv[1]); err != nil {
			w.t.Fatalf("add tag: %v", err)
		}
	}
	return p
}

func (w *world) event(p store.Project, requester string) ingest.SetupEvent {
	return ingest.SetupEvent{
		OrgID: w.org.ID, OrgName: w.org.Name, ProductID: w.product.ID, ProductName: w.product.Name,
		ProjectID: p.ID, ProjectName: p.Name, ProjectToken: p.Token, Libraries: 42,
		RequestToken: "req-" + p.Token, RequesterEmail: requester,
		FinishedAt: time.Date(2026, 12, 3, 17, 30, 5, 0, time.UTC),
	}
}

// complete runs the hook inside a store transaction, as the pipeline does.
func (w *world) complete(n *notify.Notifier, ev ingest.SetupEvent) {
	w.t.Helper()
	err := w.st.Tx(w.ctx, func(tx *sql.Tx) error { return n.ProjectSetupCompleted(w.ctx, tx, ev) })
	if err != nil {
		w.t.Fatalf("ProjectSetupCompleted: %v", err)
	}
}

func (w *world) outbox() []store.OutboxMessage {
	w.t.Helper()
	msgs, err := w.st.OutboxOf(w.ctx, w.org.ID)
	if err != nil {
		w.t.Fatalf("outbox: %v", err)
	}
	return msgs
}

func (w *world) emailFor(projectID int64) store.OutboxMessage {
	w.t.Helper()
	for _, m := range w.outbox() {
		if m.ProjectID == projectID && m.Channel == store.ChannelEmail {
			return m
		}
	}
	w.t.Fatalf("no outbox mail for project %d", projectID)
	return store.OutboxMessage{}
}

// waitOutbox polls the message until cond holds.
func (w *world) waitOutbox(id int64, what string, cond func(store.OutboxMessage) bool) store.OutboxMessage {
	w.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		m, err := w.st.OutboxMessageByID(w.ctx, id)
		if err != nil {
			w.t.Fatalf("outbox message %d: %v", id, err)
		}
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("outbox message %d: not %s within %v: state %s, attempts %d, last error %q, note %q",
				id, what, wait, m.State, m.Attempts, m.LastError, m.Note)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runSender runs a sender until the test ends (or stop is called).
func runSender(t *testing.T, st *store.Store, cfg notify.SenderConfig) (s *notify.Sender, stop func()) {
	t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial = 10 * time.Millisecond
		cfg.RetryMax = 50 * time.Millisecond
	}
	s, err := notify.NewSender(st, cfg)
	if err != nil {
		t.Fatalf("new sender: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return s, stop
}

func smtpConfig(srv *notifytest.Server) *notify.SMTPConfig {
	return &notify.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: notify.TLSNone, From: "Tally <tally@tally.test>", Timeout: 10 * time.Second}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestEnabledMailsAdminsAndRequesterOnce(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	w.config("ENABLED", "", "")
	w.user("Second.Admin@acme.test", auth.OrgAdmin, 0)
	w.user("pa@acme.test", auth.ProductAdmin, w.product.ID)
	// An org admin who also administers the product is mailed once.
	if err := w.st.GrantRole(w.ctx, "Second.Admin@acme.test", auth.ProductAdmin, w.product.ID); err != nil {
		t.Fatal(err)
	}
	w.user("member@acme.test", auth.ProductMember, w.product.ID)
	other, err := w.st.CreateProduct(w.ctx, w.org.ID, "Other")
	if err != nil {
		t.Fatal(err)
	}
	w.user("other-pa@acme.test", auth.ProductAdmin, other.ID)

	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})
	p := w.project("Launch <pad>")
	// The requester is an admin too, in other case: still one address.
	w.complete(n, w.event(p, "second.admin@ACME.test"))

	msgs := srv.WaitMessages(1, wait)
	m := msgs[0]
	want := []string{"Second.Admin@acme.test", "boss@acme.test", "pa@acme.test"}
	if got := sorted(m.To); !slices.Equal(got, sorted(want)) {
		t.Errorf("envelope recipients = %v, want %v", got, want)
	}
	if m.From != "tally@tally.test" {
		t.Errorf("envelope sender = %q", m.From)
	}
	if want := "Project setup completed: Acme & Co / Rocket / Launch <pad>"; m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
	for _, s := range []string{"Acme & Co", "Rocket", "Launch <pad>", "Libraries:      42", "req-" + p.Token, "2026-12-03 17:30:05 UTC"} {
		if !strings.Contains(m.Text, s) {
			t.Errorf("text part lacks %q:\n%s", s, m.Text)
		}
	}
	for _, s := range []string{"Acme &amp; Co", "Rocket", "Launch &lt;pad&gt;", "<td>42</td>", "req-" + p.Token, "2026-12-03 17:30:05 UTC"} {
		if !strings.Contains(m.HTML, s) {
			t.Errorf("HTML part lacks %q:\n%s", s, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "<pad>") {
		t.Errorf("HTML part carries an unescaped name:\n%s", m.HTML)
	}
	if id := m.Header.Get("Message-Id"); !strings.HasPrefix(id, "<tally.outbox.") || !strings.HasSuffix(id, "@tally.test>") {
		t.Errorf("Message-ID = %q", id)
	}

	row := w.waitOutbox(w.emailFor(p.ID).ID, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	if row.Attempts != 1 || row.LastError != "" || row.SentAt.IsZero() || row.LeaseOwner != "" {
		t.Errorf("sent row = attempts %d, last error %q, sent at %v, lease %q", row.Attempts, row.LastError, row.SentAt, row.LeaseOwner)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("server received %d messages, want 1", len(srv.Messages()))
	}
}

func TestRequesterEmailAddedAndBadOneIgnored(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	w.config("enabled", "", "")
	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})

	p1 := w.project("one")
	w.complete(n, w.event(p1, "dev@elsewhere.test"))
	got := srv.WaitMessages(1, wait)[0]
	if want := []string{"boss@acme.test", "dev@elsewhere.test"}; !slices.Equal(sorted(got.To), want) {
		t.Errorf("recipients = %v, want %v", got.To, want)
	}
	if !strings.Contains(got.Text, "Requested by:   dev@elsewhere.test") {
		t.Errorf("text does not name the requester:\n%s", got.Text)
	}

	// A requester address that does not parse (here, one that would add a
	// header) is left out; the administrators are still mailed.
	p2 := w.project("two")
	w.complete(n, w.event(p2, "x@y.test\r\nBcc: victim@z.test"))
	got = srv.WaitMessages(2, wait)[1]
	if !slices.Equal(got.To, []string{"boss@acme.test"}) {
		t.Errorf("recipients = %v, want only the admin", got.To)
	}
}

func TestDecisionsFromConfigAndTags(t *testing.T) {
	cases := []struct {
		name           string
		action, kr, vr string
		tags           [][2]string
		notify         bool
	}{
		{"enabled without tags", "ENABLED", "", "", nil, true},
		{"disabled", "DISABLED", "", "", [][2]string{{"team", "core"}}, false},
		{"never configured", "", "", "", [][2]string{{"team", "core"}}, false},
		{"custom match", "CUSTOM", "^team$", "^core$", [][2]string{{"env", "prod"}, {"team", "web"}, {"team", "core"}}, true},
		{"custom key matches, value does not", "CUSTOM", "^team$", "^core$", [][2]string{{"team", "web"}}, false},
		{"custom value matches, key does not", "CUSTOM", "^team$", "^core$", [][2]string{{"squad", "core"}}, false},
		{"custom key and value match on different tags", "CUSTOM", "^team$", "^core$", [][2]string{{"team", "web"}, {"squad", "core"}}, false},
		{"custom unanchored", "CUSTOM", "[0-9]+", "Project", [][2]string{{"id42", "MyProjectTag"}}, true},
		{"custom no tags", "CUSTOM", ".*", ".*", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			if c.action != "" {
				w.config(c.action, c.kr, c.vr)
			}
			n := notify.NewNotifier(w.st, notify.NotifierOptions{})
			p := w.project("p", c.tags...)
			w.complete(n, w.event(p, ""))
			m := w.emailFor(p.ID)
			wantState := store.OutboxSkipped
			if c.notify {
				wantState = store.OutboxPending
			}
			if m.State != wantState {
				t.Fatalf("state = %s (%s), want %s", m.State, m.Note, wantState)
			}
			if c.notify && (len(m.Recipients) != 1 || m.Subject == "" || m.BodyText == "" || m.BodyHTML == "") {
				t.Errorf("pending mail incomplete: %+v", m)
			}
			if !c.notify && (len(m.Recipients) != 0 || m.Note == "") {
				t.Errorf("skipped row should carry a reason and no recipients: %+v", m)
			}
		})
	}
}

func TestCustomMatchIsMailedNoMatchIsNot(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	w.config("CUSTOM", "^team$", "^core$")
	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: smtpConfig(srv)})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})

	skipped := w.project("not-core", [2]string{"team", "web"}, [2]string{"squad", "core"})
	w.complete(n, w.event(skipped, ""))
	matched := w.project("core-app", [2]string{"team", "core"})
	w.complete(n, w.event(matched, ""))

	// The sender delivers in the order messages were recorded; the only
	// mail that arrives is the matching project's.
	msgs := srv.WaitMessages(1, wait)
	w.waitOutbox(w.emailFor(matched.ID).ID, "SENT", func(m store.OutboxMessage) bool { return m.State == store.OutboxSent })
	msgs = srv.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "core-app") {
		t.Fatalf("received %d messages (first subject %q), want only core-app's", len(msgs), msgs[0].Subject)
	}
	if m := w.emailFor(skipped.ID); m.State != store.OutboxSkipped || m.Attempts != 0 {
		t.Errorf("non-matching project: state %s, attempts %d", m.State, m.Attempts)
	}
}

func TestHookIsAtomicWithTheTransactionAndOncePerProject(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	n := notify.NewNotifier(w.st, notify.NotifierOptions{})
	p := w.project("p")

	// The pipeline's transaction fails after the hook: nothing is recorded.
	boom := errors.New("boom")
	err := w.st.Tx(w.ctx, func(tx *sql.Tx) error {
		if err := n.ProjectSetupCompleted(w.ctx, tx, w.event(p, "")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("tx error = %v", err)
	}
	if got := w.outbox(); len(got) != 0 {
		t.Fatalf("rolled-back event left %d outbox rows", len(got))
	}

	w.complete(n, w.event(p, ""))
	w.complete(n, w.event(p, "")) // a repeated call records nothing more
	if got := w.outbox(); len(got) != 1 {
		t.Fatalf("outbox has %d rows, want 1", len(got))
	}
}

func TestNamesFilledFromTheDatabase(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	n := notify.NewNotifier(w.st, notify.NotifierOptions{})
	p := w.project("named")
	w.complete(n, ingest.SetupEvent{OrgID: w.org.ID, ProjectID: p.ID, Libraries: 3, RequestToken: "r1"})
	m := w.emailFor(p.ID)
	if want := "Project setup completed: Acme & Co / Rocket / named"; m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
}

func TestNoRecipientsIsRecordedAsSkipped(t *testing.T) {
	w := newWorld(t)
	w.config("ENABLED", "", "")
	// The only administrator's address cannot be mailed.
	if _, err := w.st.DB().ExecContext(w.ctx, `UPDATE users SET email = 'not an address' WHERE org_id = $1`, w.org.ID); err != nil {
		t.Fatal(err)
	}
	n := notify.NewNotifier(w.st, notify.NotifierOptions{})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	m := w.emailFor(p.ID)
	if m.State != store.OutboxSkipped || !strings.Contains(m.Note, "no recipients") {
		t.Errorf("row = %s %q, want SKIPPED for no recipients", m.State, m.Note)
	}
}

func TestRecipients(t *testing.T) {
	got := notify.Recipients(
		[]string{"a@x.test", "B@x.test", "bad address"},
		[]string{"b@x.test", "c@x.test", "A@X.TEST"},
		"c@X.test")
	if want := []string{"a@x.test", "B@x.test", "c@x.test"}; !slices.Equal(got, want) {
		t.Errorf("Recipients = %v, want %v", got, want)
	}
	if got := notify.Recipients(nil, nil, "Name <n@x.test>"); len(got) != 0 {
		t.Errorf("a display-name requester should be refused, got %v", got)
	}
}

func TestDecideInvalidStoredRegexDoesNotNotify(t *testing.T) {
	// The API refuses bad patterns; a bad one stored some other way must
	// not notify nor fail the pipeline.
	d := notify.Decide(store.NotificationConfig{Action: "CUSTOM", KeyRegex: "(", ValueRegex: ".*"}, store.Tags{"a": {"b"}})
	if d.Notify || !strings.Contains(d.Reason, "invalid projectTagKeyRegex") {
		t.Errorf("Decide = %+v", d)
	}
	d = notify.Decide(store.NotificationConfig{Action: "CUSTOM", KeyRegex: ".*", ValueRegex: "a{2,99999}"}, store.Tags{"a": {"b"}})
	if d.Notify || !strings.Contains(d.Reason, "invalid projectTagValueRegex") {
		t.Errorf("Decide = %+v", d)
	}
}
