package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/store"
)

// adminOutbox lists an organization's latest notifications and what became
// of them (docs/notifications.md).
func adminOutbox(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("admin outbox")
	db := env.dbFlag(fs)
	orgToken := fs.String("org-token", "", "the organization's token")
	state := fs.String("state", "", "only PENDING, SENT, FAILED or SKIPPED")
	limit := fs.Int("limit", 50, "at most this many, newest first")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required("org-token", *orgToken); err != nil {
		return fmt.Errorf("admin outbox: %w", err)
	}
	want := strings.ToUpper(strings.TrimSpace(*state))
	switch want {
	case "", store.OutboxPending, store.OutboxSent, store.OutboxFailed, store.OutboxSkipped:
	default:
		return fmt.Errorf("admin outbox: --state %q: want PENDING, SENT, FAILED or SKIPPED", *state)
	}
	if *limit < 1 {
		return errors.New("admin outbox: --limit must be at least 1")
	}
	st, org, err := openOrg(ctx, *db, *orgToken, "admin outbox")
	if err != nil {
		return err
	}
	defer st.Close()
	msgs, err := st.OutboxRecent(ctx, org.ID, want, *limit)
	if err != nil {
		return err
	}
	type row struct {
		ID         int64    `json:"id"`
		Event      string   `json:"event"`
		Channel    string   `json:"channel"`
		State      string   `json:"state"`
		Note       string   `json:"note,omitempty"`
		Recipients []string `json:"recipients,omitempty"`
		Subject    string   `json:"subject,omitempty"`
		Attempts   int      `json:"attempts"`
		LastError  string   `json:"lastError,omitempty"`
		CreatedAt  string   `json:"createdAt"`
		NextTry    string   `json:"nextAttemptAt,omitempty"`
		SentAt     string   `json:"sentAt,omitempty"`
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	out := struct {
		Outbox []row `json:"outbox"`
	}{Outbox: []row{}}
	var text strings.Builder
	for _, m := range msgs {
		r := row{ID: m.ID, Event: m.Event, Channel: m.Channel, State: m.State, Note: m.Note, Recipients: m.Recipients,
			Subject: m.Subject, Attempts: m.Attempts, LastError: m.LastError, CreatedAt: stamp(m.CreatedAt), SentAt: stamp(m.SentAt)}
		if m.State == store.OutboxPending {
			r.NextTry = stamp(m.NextAttemptAt)
		}
		out.Outbox = append(out.Outbox, r)
		fmt.Fprintf(&text, "%d\t%s\t%s\t%s\tattempts %d", r.ID, r.CreatedAt, r.Channel, r.State, r.Attempts)
		if r.Subject != "" {
			fmt.Fprintf(&text, "\t%s", r.Subject)
		}
		if r.Note != "" && r.State == store.OutboxSkipped {
			fmt.Fprintf(&text, "\t(%s)", r.Note)
		}
		if r.LastError != "" {
			fmt.Fprintf(&text, "\tlast error: %s", r.LastError)
		}
		text.WriteByte('\n')
	}
	if len(msgs) == 0 {
		text.WriteString("the outbox is empty\n")
	}
	return env.output(*asJSON, out, strings.TrimRight(text.String(), "\n"))
}
