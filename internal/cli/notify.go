package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/notify"
	"github.com/tallyhq/tally/internal/store"
)

// notifyFlags are tally serve's settings for project setup notifications:
// the SMTP server and the outbox sender's timing.
type notifyFlags struct {
	host, port, username, password, from, tls *string
	poll, retryInitial, retryMax, maxAttempts *string
}

// addNotifyFlags defines the notification flags of tally serve, each
// defaulting to its TALLY_* environment variable.
func addNotifyFlags(fs *flag.FlagSet, env *environment) *notifyFlags {
	return &notifyFlags{
		host:     fs.String("smtp-host", env.envOr("TALLY_SMTP_HOST", ""), "SMTP server for notification mail; none: mail waits in the outbox (env TALLY_SMTP_HOST)"),
		port:     fs.String("smtp-port", env.envOr("TALLY_SMTP_PORT", ""), "SMTP port (default 25, 587 or 465 by --smtp-tls) (env TALLY_SMTP_PORT)"),
		username: fs.String("smtp-username", env.envOr("TALLY_SMTP_USERNAME", ""), "SMTP AUTH user (env TALLY_SMTP_USERNAME)"),
		password: fs.String("smtp-password", env.envOr("TALLY_SMTP_PASSWORD", ""), "SMTP AUTH password; prefer the environment (env TALLY_SMTP_PASSWORD)"),
		from:     fs.String("smtp-from", env.envOr("TALLY_SMTP_FROM", ""), "sender address, e.g. 'Tally <tally@example.com>' (env TALLY_SMTP_FROM)"),
		tls:      fs.String("smtp-tls", env.envOr("TALLY_SMTP_TLS", notify.TLSStartTLS), "none, starttls or tls (env TALLY_SMTP_TLS)"),
		poll: fs.String("notify-poll", env.envOr("TALLY_NOTIFY_POLL", notify.DefaultPoll.String()),
			"how often the outbox is checked (env TALLY_NOTIFY_POLL)"),
		retryInitial: fs.String("notify-retry-initial", env.envOr("TALLY_NOTIFY_RETRY_INITIAL", notify.DefaultRetryInitial.String()),
			"wait after a first failed delivery, doubled after each further one (env TALLY_NOTIFY_RETRY_INITIAL)"),
		retryMax: fs.String("notify-retry-max", env.envOr("TALLY_NOTIFY_RETRY_MAX", notify.DefaultRetryMax.String()),
			"longest wait between delivery attempts (env TALLY_NOTIFY_RETRY_MAX)"),
		maxAttempts: fs.String("notify-max-attempts", env.envOr("TALLY_NOTIFY_MAX_ATTEMPTS", strconv.Itoa(notify.DefaultMaxAttempts)),
			"delivery attempts before a notification is given up (env TALLY_NOTIFY_MAX_ATTEMPTS)"),
	}
}

func (f *notifyFlags) senderConfig(logger *slog.Logger) (notify.SenderConfig, error) {
	cfg := notify.SenderConfig{Logger: logger}
	durations := []struct {
		name string
		val  string
		dst  *time.Duration
	}{
		{"notify-poll", *f.poll, &cfg.Poll},
		{"notify-retry-initial", *f.retryInitial, &cfg.RetryInitial},
		{"notify-retry-max", *f.retryMax, &cfg.RetryMax},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(strings.TrimSpace(d.val))
		if err != nil || v <= 0 {
			return cfg, fmt.Errorf("--%s: want a positive duration such as 30s, got %q", d.name, d.val)
		}
		*d.dst = v
	}
	n, err := strconv.Atoi(strings.TrimSpace(*f.maxAttempts))
	if err != nil || n < 1 {
		return cfg, fmt.Errorf("--notify-max-attempts: want a positive number, got %q", *f.maxAttempts)
	}
	cfg.MaxAttempts = n
	if strings.TrimSpace(*f.host) == "" {
		for name, v := range map[string]string{"smtp-port": *f.port, "smtp-username": *f.username, "smtp-password": *f.password, "smtp-from": *f.from} {
			if v != "" {
				return cfg, fmt.Errorf("--%s is set but --smtp-host is not", name)
			}
		}
		return cfg, nil
	}
	smtp := &notify.SMTPConfig{
		Host:     strings.TrimSpace(*f.host),
		Username: *f.username,
		Password: *f.password,
		From:     strings.TrimSpace(*f.from),
		TLS:      strings.ToLower(strings.TrimSpace(*f.tls)),
	}
	if p := strings.TrimSpace(*f.port); p != "" {
		if smtp.Port, err = strconv.Atoi(p); err != nil || smtp.Port < 1 || smtp.Port > 65535 {
			return cfg, fmt.Errorf("--smtp-port: want a port number, got %q", p)
		}
	}
	if smtp.From == "" {
		return cfg, fmt.Errorf("--smtp-from is required with --smtp-host")
	}
	cfg.SMTP = smtp
	return cfg, nil
}

// startNotify builds the project setup notifier (the pipeline's setup hook)
// and starts the outbox sender. stop ends the sender and waits for it; call
// it after whatever records notifications has stopped.
func startNotify(ctx context.Context, st *store.Store, logger *slog.Logger, f *notifyFlags) (n *notify.Notifier, stop func(), err error) {
	cfg, err := f.senderConfig(logger)
	if err != nil {
		return nil, nil, err
	}
	sender, err := notify.NewSender(st, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	if cfg.SMTP != nil {
		logger.Info("notifications: mailing through SMTP", "smtp", cfg.SMTP.Addr(), "tls", cfg.SMTP.TLS, "from", cfg.SMTP.From,
			"auth", cfg.SMTP.Username != "")
	} else {
		logger.Warn("notifications: no SMTP server configured (--smtp-host, TALLY_SMTP_HOST): project setup mail is recorded in the outbox and logged, not sent")
	}
	n = notify.NewNotifier(st, notify.NotifierOptions{Logger: logger, EmailConfigured: sender.EmailConfigured(), Wake: sender.Kick})
	// The sender runs until stop, not until ctx ends, so it keeps
	// delivering while the server drains its requests.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { sender.Run(sctx) })
	return n, func() { cancel(); wg.Wait() }, nil
}
