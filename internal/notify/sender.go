package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/internal/store"
)

// Sender defaults.
const (
	DefaultPoll         = 2 * time.Second
	DefaultLease        = 5 * time.Minute
	DefaultRetryInitial = 30 * time.Second
	DefaultRetryMax     = time.Hour
	DefaultMaxAttempts  = 30
	DefaultTimeout      = 30 * time.Second
)

// SenderConfig configures a Sender. Zero durations take the defaults.
type SenderConfig struct {
	// SMTP is the mail server; nil leaves mail pending in the outbox (this
	// server does not claim it, so another server sharing the database with
	// SMTP configured, or this one restarted with it, delivers it).
	SMTP *SMTPConfig
	// Poll is how often the outbox is looked at when nothing wakes the
	// sender.
	Poll time.Duration
	// Lease is how long a claimed message belongs to this sender; it must
	// outlast one delivery attempt. A sender that dies mid-delivery leaves
	// the message to be claimed again once the lease expires.
	Lease time.Duration
	// RetryInitial is the wait after the first failed attempt; each further
	// failure doubles it, up to RetryMax (with ±20% jitter).
	RetryInitial, RetryMax time.Duration
	// MaxAttempts is when a message is given up (state FAILED).
	MaxAttempts int
	// HTTPClient posts webhooks; nil is a client with a DefaultTimeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Sender delivers the outbox.
type Sender struct {
	store    *store.Store
	cfg      SenderConfig
	log      *slog.Logger
	instance string
	seq      atomic.Int64
	kick     chan struct{}
}

// NewSender checks cfg and returns a Sender; Run starts it.
func NewSender(st *store.Store, cfg SenderConfig) (*Sender, error) {
	if cfg.SMTP != nil {
		if err := cfg.SMTP.check(); err != nil {
			return nil, err
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, DefaultPoll)
	def(&cfg.Lease, DefaultLease)
	def(&cfg.RetryInitial, DefaultRetryInitial)
	def(&cfg.RetryMax, DefaultRetryMax)
	if cfg.RetryMax < cfg.RetryInitial {
		cfg.RetryMax = cfg.RetryInitial
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.HTTPClient == nil {
		// Redirects are not followed: a webhook answers where it was set.
		cfg.HTTPClient = &http.Client{
			Timeout:       DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("sender id: %w", err)
	}
	return &Sender{store: st, cfg: cfg, log: log, instance: hex.EncodeToString(b[:]), kick: make(chan struct{}, 1)}, nil
}

// EmailConfigured reports whether this sender mails.
func (s *Sender) EmailConfigured() bool { return s.cfg.SMTP != nil }

// Kick makes the sender look at the outbox now rather than at its next
// poll. It never blocks.
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. A delivery in flight when ctx ends is
// abandoned and its message released for the next start.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		s.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Sender) channels() []string {
	if s.cfg.SMTP != nil {
		return []string{store.ChannelEmail, store.ChannelWebhook}
	}
	return []string{store.ChannelWebhook}
}

// drain delivers every due message of each channel. After a temporary mail
// failure (the SMTP server is down) it stops mailing until the next round,
// so a backlog costs one failed connection per round, not one per message.
func (s *Sender) drain(ctx context.Context) {
	for _, ch := range s.channels() {
		for ctx.Err() == nil {
			owner := fmt.Sprintf("%s-%d", s.instance, s.seq.Add(1))
			// The claim is not cancelled by a stop: cancelled after the
			// database committed it, it would leave a lease that nothing
			// releases until it expires. A stop is seen at the loop's check
			// and by deliver, which gives a claimed message back.
			claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			m, ok, err := s.store.ClaimOutbox(claimCtx, ch, owner, time.Now(), s.cfg.Lease)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("notification outbox: claim failed", "channel", ch, "err", err)
				}
				return
			}
			if !ok {
				break
			}
			if retry := s.deliver(ctx, m, owner); retry && ch == store.ChannelEmail {
				break
			}
		}
	}
}

// permanentError is a refusal that retrying cannot change.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// deliver attempts one claimed message and records the outcome; it reports
// whether the attempt failed for a reason that may pass (the message waits
// for a retry).
func (s *Sender) deliver(ctx context.Context, m store.OutboxMessage, owner string) bool {
	var err error
	var warning string
	switch m.Channel {
	case store.ChannelEmail:
		warning, err = s.sendMail(ctx, m)
	case store.ChannelWebhook:
		err = s.postWebhook(ctx, m)
	default:
		err = permanent(fmt.Errorf("unknown channel %q", m.Channel))
	}
	// Record even when ctx ended: a released lease lets the next start
	// deliver at once.
	rec := context.WithoutCancel(ctx)
	now := time.Now()
	log := s.log.With("outbox", m.ID, "channel", m.Channel, "event", m.Event, "attempt", m.Attempts)
	var perm *permanentError
	switch {
	case err == nil:
		if rerr := s.store.MarkOutboxSent(rec, m.ID, owner, warning, now); rerr != nil {
			log.Error("notification delivered but not recorded", "err", rerr)
		} else if warning != "" {
			log.Warn("notification delivered, not to everyone", "warning", warning)
		} else {
			log.Info("notification delivered", "to", strings.Join(m.Recipients, ", "))
		}
		return false
	case ctx.Err() != nil:
		// Shutting down: give the attempt back.
		if rerr := s.store.MarkOutboxRetry(rec, m.ID, owner, "interrupted by shutdown: "+err.Error(), now, now); rerr != nil {
			log.Error("notification: release on shutdown failed", "err", rerr)
		}
		return true
	case errors.As(err, &perm):
		if rerr := s.store.MarkOutboxFailed(rec, m.ID, owner, err.Error(), now); rerr != nil {
			log.Error("notification failure not recorded", "err", rerr)
		}
		log.Error("notification refused permanently; given up", "err", err)
		return false
	case m.Attempts >= s.cfg.MaxAttempts:
		msg := fmt.Sprintf("gave up after %d attempts: %v", m.Attempts, err)
		if rerr := s.store.MarkOutboxFailed(rec, m.ID, owner, msg, now); rerr != nil {
			log.Error("notification failure not recorded", "err", rerr)
		}
		log.Error("notification given up", "err", err)
		return false
	default:
		wait := s.backoff(m.Attempts)
		if rerr := s.store.MarkOutboxRetry(rec, m.ID, owner, err.Error(), now.Add(wait), now); rerr != nil {
			log.Error("notification failure not recorded", "err", rerr)
		}
		log.Warn("notification delivery failed; will retry", "err", err, "retry_in", wait.Round(time.Millisecond))
		return true
	}
}

// backoff is the wait after the attempts-th failed attempt.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.cfg.RetryInitial
	for i := 1; i < attempts && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	jitter := 0.8 + 0.4*mrand.Float64()
	return time.Duration(float64(d) * jitter)
}
