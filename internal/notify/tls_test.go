package notify_test

import (
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/notify"
	"github.com/tallyhq/tally/internal/notify/notifytest"
	"github.com/tallyhq/tally/internal/store"
)

// mailOne records one ENABLED setup mail and runs a sender with cfg on it;
// it returns the outbox row id.
func mailOne(t *testing.T, w *world, cfg *notify.SMTPConfig, maxAttempts int) int64 {
	t.Helper()
	w.config("ENABLED", "", "")
	sender, _ := runSender(t, w.st, notify.SenderConfig{SMTP: cfg, MaxAttempts: maxAttempts})
	n := notify.NewNotifier(w.st, notify.NotifierOptions{EmailConfigured: true, Wake: sender.Kick})
	p := w.project("p")
	w.complete(n, w.event(p, ""))
	return w.emailFor(p.ID).ID
}

func TestSMTPStartTLSWithAuth(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t, notifytest.WithTLS("starttls"), notifytest.WithAuth("tally", "s3cret"))
	cfg := smtpConfig(srv)
	cfg.TLS, cfg.TLSConfig = notify.TLSStartTLS, srv.ClientTLS()
	cfg.Username, cfg.Password = "tally", "s3cret"
	mailOne(t, w, cfg, 0)
	m := srv.WaitMessages(1, wait)[0]
	if !m.TLS || m.AuthUser != "tally" {
		t.Errorf("message over TLS %v, authenticated as %q; want TLS and tally", m.TLS, m.AuthUser)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t, notifytest.WithTLS("tls"))
	cfg := smtpConfig(srv)
	cfg.TLS, cfg.TLSConfig = notify.TLSImplicit, srv.ClientTLS()
	mailOne(t, w, cfg, 0)
	if m := srv.WaitMessages(1, wait)[0]; !m.TLS {
		t.Error("message not over TLS")
	}
}

// starttls never falls back to plain text: a server that does not offer
// STARTTLS gets nothing.
func TestSMTPStartTLSRequired(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t)
	cfg := smtpConfig(srv)
	cfg.TLS = notify.TLSStartTLS
	id := mailOne(t, w, cfg, 2)
	m := w.waitOutbox(id, "FAILED", func(m store.OutboxMessage) bool { return m.State == store.OutboxFailed })
	if !strings.Contains(m.LastError, "STARTTLS") || m.Attempts != 2 {
		t.Errorf("attempts %d, last error %q", m.Attempts, m.LastError)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages sent in plain text", n)
	}
}

// An untrusted certificate is refused.
func TestSMTPUntrustedCertificate(t *testing.T) {
	w := newWorld(t)
	srv := notifytest.Start(t, notifytest.WithTLS("tls"))
	cfg := smtpConfig(srv)
	cfg.TLS = notify.TLSImplicit // system roots: the test certificate is unknown
	id := mailOne(t, w, cfg, 1)
	m := w.waitOutbox(id, "FAILED", func(m store.OutboxMessage) bool { return m.State == store.OutboxFailed })
	if !strings.Contains(m.LastError, "certificate") {
		t.Errorf("last error %q, want a certificate error", m.LastError)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}
