package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/tallyhq/tally/internal/store"
)

// SMTP transport security modes.
const (
	TLSNone     = "none"     // plain SMTP (port 25 by default)
	TLSStartTLS = "starttls" // STARTTLS required (port 587 by default)
	TLSImplicit = "tls"      // TLS from the first byte (port 465 by default)
)

// SMTPConfig is the mail server the sender delivers through.
type SMTPConfig struct {
	Host string
	// Port 0 is the mode's usual port: 25, 587 or 465.
	Port     int
	Username string
	Password string
	// From is the sender address, e.g. "Tally <tally@example.com>".
	From string
	// TLS is one of TLSNone, TLSStartTLS (the default when empty) and
	// TLSImplicit.
	TLS string
	// Timeout bounds connecting and each SMTP exchange (DefaultTimeout if 0).
	Timeout time.Duration
	// TLSConfig overrides the TLS settings (e.g. a private CA); nil is the
	// system's roots with Host as the server name.
	TLSConfig *tls.Config
}

func (c *SMTPConfig) check() error {
	if strings.TrimSpace(c.Host) == "" {
		return errors.New("smtp: no host")
	}
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return fmt.Errorf("smtp: TLS mode %q: want none, starttls or tls", c.TLS)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("smtp: port %d out of range", c.Port)
	}
	if c.Port == 0 {
		c.Port = map[string]int{TLSNone: 25, TLSStartTLS: 587, TLSImplicit: 465}[c.TLS]
	}
	if strings.TrimSpace(c.From) == "" {
		return errors.New("smtp: no sender address (from)")
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("smtp: sender address %q: %w", c.From, err)
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("smtp: a password without a username")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return nil
}

// Addr is host:port, for messages.
func (c *SMTPConfig) Addr() string { return fmt.Sprintf("%s:%d", c.Host, c.Port) }

func (c *SMTPConfig) client() (*mail.Client, error) {
	opts := []mail.Option{mail.WithTimeout(c.Timeout)}
	switch c.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	}
	if c.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(c.TLSConfig))
	}
	if c.Username != "" {
		// Over TLS, the strongest mechanism the server offers; in plain
		// text only PLAIN, which the library refuses to send anywhere but
		// to localhost.
		auth := mail.SMTPAuthAutoDiscover
		if c.TLS == TLSNone {
			auth = mail.SMTPAuthPlain
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(c.Username), mail.WithPassword(c.Password))
	}
	opts = append(opts, mail.WithPort(c.Port))
	cl, err := mail.NewClient(c.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return cl, nil
}

// sendMail delivers one outbox mail: one message to all its recipients.
// Its Message-ID is the same on every attempt, so a receiver can recognize
// a duplicate of an at-least-once delivery.
//
// SMTP refuses a whole transaction when it refuses one recipient, and the
// requester's address comes from an agent, unchecked; so when the server
// refuses a recipient for good, each recipient is mailed on their own in
// the same attempt. The mail counts as sent when someone got it; those
// refused are the returned warning.
func (s *Sender) sendMail(ctx context.Context, m store.OutboxMessage) (warning string, err error) {
	err = s.sendTo(ctx, m, m.Recipients)
	var se *mail.SendError
	if err == nil || len(m.Recipients) < 2 || !errors.As(err, &se) || se.Reason != mail.ErrSMTPRcptTo || !isPermanent(err) {
		return "", err
	}
	var refused []string
	var lastErr error
	for _, rcpt := range m.Recipients {
		err := s.sendTo(ctx, m, []string{rcpt})
		switch {
		case err == nil:
		case isPermanent(err):
			refused = append(refused, fmt.Sprintf("%s (%v)", rcpt, err))
		default:
			// A temporary failure: the whole mail is retried (those who
			// got it now may get it twice, with the same Message-ID).
			return "", err
		}
		lastErr = err
	}
	if len(refused) == len(m.Recipients) {
		return "", lastErr
	}
	return "refused recipients: " + strings.Join(refused, "; "), nil
}

// isPermanent reports an error that retrying cannot change.
func isPermanent(err error) bool {
	var perm *permanentError
	return errors.As(err, &perm)
}

// sendTo sends m to rcpts in one SMTP transaction.
func (s *Sender) sendTo(ctx context.Context, m store.OutboxMessage, rcpts []string) error {
	c := s.cfg.SMTP
	msg := mail.NewMsg()
	if err := msg.From(c.From); err != nil {
		return permanent(fmt.Errorf("from %q: %w", c.From, err))
	}
	if err := msg.To(rcpts...); err != nil {
		return permanent(fmt.Errorf("recipients: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(messageID(m, c.From))
	msg.SetDate()
	msg.SetUserAgent("Tally")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, m.BodyText)
	msg.AddAlternativeString(mail.TypeTextHTML, m.BodyHTML)

	cl, err := c.client()
	if err != nil {
		return permanent(err)
	}
	err = cl.DialAndSendWithContext(ctx, msg)
	if err != nil && msg.IsDelivered() {
		// The server took the message; only closing the session failed.
		s.log.Debug("smtp: delivered, closing failed", "outbox", m.ID, "err", err)
		return nil
	}
	if err == nil {
		return nil
	}
	var se *mail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
		return permanent(fmt.Errorf("smtp %s: %w", c.Addr(), err))
	}
	return fmt.Errorf("smtp %s: %w", c.Addr(), err)
}

// messageID is stable for a message: its outbox id and creation time at the
// sender's domain.
func messageID(m store.OutboxMessage, from string) string {
	domain := "tally.localhost"
	if a, err := netmail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 && i+1 < len(a.Address) {
			domain = a.Address[i+1:]
		}
	}
	return fmt.Sprintf("tally.outbox.%d.%d@%s", m.ID, m.CreatedAt.UnixMilli(), domain)
}
