// Package notify tells people that a project's setup completed: the
// Notifier decides, inside the pipeline's transaction, whether the
// organization wants to hear of it and records the mail (and the webhook
// call) in the outbox; the Sender delivers what the outbox holds over SMTP
// and HTTP, retrying with backoff, at least once.
package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/store"
)

// EventProjectSetup names the event in the outbox and in webhook payloads.
const EventProjectSetup = "project.setup.completed"

// Notification config actions (as stored by setProjectSetupNotificationConfig).
const (
	ActionEnabled  = "ENABLED"
	ActionDisabled = "DISABLED"
	ActionCustom   = "CUSTOM"
)

// Notifier records project setup notifications in the outbox. It is the
// pipeline's ingest.SetupHook.
type Notifier struct {
	store *store.Store
	log   *slog.Logger
	// emailConfigured says whether a sender will mail what is recorded; it
	// only changes what is logged.
	emailConfigured bool
	wake            func()
}

var _ ingest.SetupHook = (*Notifier)(nil)

// NotifierOptions configure a Notifier.
type NotifierOptions struct {
	Logger *slog.Logger
	// EmailConfigured is true when this server has an SMTP server to mail
	// through; without one, recorded mail waits in the outbox.
	EmailConfigured bool
	// Wake, when set, is called after a message is recorded, so a sender
	// looks at the outbox without waiting for its next poll.
	Wake func()
}

// NewNotifier returns a Notifier writing to st's outbox.
func NewNotifier(st *store.Store, o NotifierOptions) *Notifier {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{store: st, log: log, emailConfigured: o.EmailConfigured, wake: o.Wake}
}

// Decision is whether a setup completion is notified, and why.
type Decision struct {
	Notify bool
	Reason string
}

// Decide applies an organization's config to a project's tags. ENABLED
// always notifies, DISABLED (and no config at all) never; CUSTOM notifies
// when some tag key matches the key pattern and one of that key's values
// matches the value pattern. Patterns are Go RE2 syntax, unanchored (use ^
// and $ to match whole keys or values).
func Decide(cfg store.NotificationConfig, tags store.Tags) Decision {
	switch strings.ToUpper(cfg.Action) {
	case ActionEnabled:
		return Decision{true, "notifications ENABLED"}
	case ActionDisabled, "":
		return Decision{false, "notifications DISABLED"}
	case ActionCustom:
	default:
		return Decision{false, fmt.Sprintf("unknown notification action %q", cfg.Action)}
	}
	keyRE, err := regexp.Compile(cfg.KeyRegex)
	if err != nil {
		return Decision{false, fmt.Sprintf("CUSTOM: invalid projectTagKeyRegex: %v", err)}
	}
	valueRE, err := regexp.Compile(cfg.ValueRegex)
	if err != nil {
		return Decision{false, fmt.Sprintf("CUSTOM: invalid projectTagValueRegex: %v", err)}
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !keyRE.MatchString(k) {
			continue
		}
		for _, v := range tags[k] {
			if valueRE.MatchString(v) {
				return Decision{true, fmt.Sprintf("CUSTOM: tag %s=%s matches", k, v)}
			}
		}
	}
	return Decision{false, fmt.Sprintf("CUSTOM: no project tag matches key /%s/ with value /%s/", cfg.KeyRegex, cfg.ValueRegex)}
}

// Recipients lists the addresses to mail: the organization's and the
// product's administrators, then the requester, each address once (compared
// without regard to case). Addresses that do not parse are left out.
func Recipients(orgAdmins, productAdmins []string, requester string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(addr string) {
		addr = strings.TrimSpace(addr)
		a, err := mail.ParseAddress(addr)
		if err != nil || a.Address != addr {
			return
		}
		k := strings.ToLower(addr)
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, addr)
	}
	for _, a := range orgAdmins {
		add(a)
	}
	for _, a := range productAdmins {
		add(a)
	}
	if requester != "" {
		add(requester)
	}
	return out
}

// ProjectSetupCompleted decides, from the organization's config and the
// project's tags as they are in tx, whether to notify, and records the
// message (or the decision not to) in the outbox inside tx. It is called
// once per project; a second call for the same project records nothing.
func (n *Notifier) ProjectSetupCompleted(ctx context.Context, tx *sql.Tx, ev ingest.SetupEvent) error {
	if err := n.fillNames(ctx, tx, &ev); err != nil {
		return err
	}
	if ev.FinishedAt.IsZero() {
		ev.FinishedAt = time.Now()
	}
	ev.FinishedAt = ev.FinishedAt.UTC()

	cfg, err := n.store.NotificationConfigTx(ctx, tx, ev.OrgID)
	if errors.Is(err, store.ErrNotFound) {
		cfg = store.NotificationConfig{Action: ActionDisabled}
	} else if err != nil {
		return fmt.Errorf("project setup notification: %w", err)
	}
	tags, err := n.store.ProjectTagsTx(ctx, tx, ev.ProjectID)
	if err != nil {
		return fmt.Errorf("project setup notification: %w", err)
	}
	d := Decide(cfg, tags)
	key := "setup:" + strconv.FormatInt(ev.ProjectID, 10)
	base := store.OutboxMessage{OrgID: ev.OrgID, ProjectID: ev.ProjectID, Event: EventProjectSetup}

	mailMsg := base
	mailMsg.Channel = store.ChannelEmail
	mailMsg.DedupKey = key + ":email"
	mailMsg.Note = d.Reason
	if !d.Notify {
		mailMsg.State = store.OutboxSkipped
		if _, _, err := n.store.EnqueueOutbox(ctx, tx, mailMsg); err != nil {
			return fmt.Errorf("project setup notification: %w", err)
		}
		n.log.Info("project setup: no notification", "org", ev.OrgName, "project", ev.ProjectName, "reason", d.Reason)
		return nil
	}

	orgAdmins, err := n.store.OrgAdminEmailsTx(ctx, tx, ev.OrgID)
	if err != nil {
		return fmt.Errorf("project setup notification: org admins: %w", err)
	}
	productAdmins, err := n.store.ProductAdminEmailsTx(ctx, tx, ev.ProductID)
	if err != nil {
		return fmt.Errorf("project setup notification: product admins: %w", err)
	}
	mailMsg.Recipients = Recipients(orgAdmins, productAdmins, ev.RequesterEmail)
	if len(mailMsg.Recipients) == 0 {
		mailMsg.State = store.OutboxSkipped
		mailMsg.Note = d.Reason + "; no recipients (no administrators, no requester email)"
	} else {
		mailMsg.State = store.OutboxPending
		if mailMsg.Subject, mailMsg.BodyText, mailMsg.BodyHTML, err = renderMail(ev); err != nil {
			return fmt.Errorf("project setup notification: %w", err)
		}
	}
	id, inserted, err := n.store.EnqueueOutbox(ctx, tx, mailMsg)
	if err != nil {
		return fmt.Errorf("project setup notification: %w", err)
	}
	if inserted && mailMsg.State == store.OutboxPending {
		if n.emailConfigured {
			n.log.Info("project setup: mail queued", "outbox", id, "org", ev.OrgName, "project", ev.ProjectName,
				"to", strings.Join(mailMsg.Recipients, ", "), "reason", d.Reason)
		} else {
			n.log.Warn("project setup: mail recorded in the outbox; no SMTP server is configured, so it waits there",
				"outbox", id, "org", ev.OrgName, "project", ev.ProjectName, "to", strings.Join(mailMsg.Recipients, ", "),
				"subject", mailMsg.Subject)
		}
	}

	if _, err := n.store.WebhookTx(ctx, tx, ev.OrgID); err == nil {
		payload, err := json.Marshal(newWebhookEvent(ev))
		if err != nil {
			return fmt.Errorf("project setup notification: webhook payload: %w", err)
		}
		hook := base
		hook.Channel = store.ChannelWebhook
		hook.DedupKey = key + ":webhook"
		hook.State = store.OutboxPending
		hook.Note = d.Reason
		hook.Payload = string(payload)
		id, inserted, err := n.store.EnqueueOutbox(ctx, tx, hook)
		if err != nil {
			return fmt.Errorf("project setup notification: %w", err)
		}
		if inserted {
			n.log.Info("project setup: webhook call queued", "outbox", id, "org", ev.OrgName, "project", ev.ProjectName)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("project setup notification: %w", err)
	}
	if n.wake != nil {
		n.wake()
	}
	return nil
}

// fillNames completes an event whose caller left names out.
func (n *Notifier) fillNames(ctx context.Context, tx *sql.Tx, ev *ingest.SetupEvent) error {
	if ev.OrgName != "" && ev.ProductName != "" && ev.ProjectName != "" && ev.ProductID != 0 {
		return nil
	}
	names, err := n.store.SetupNamesTx(ctx, tx, ev.ProjectID)
	if err != nil {
		return fmt.Errorf("project setup notification: %w", err)
	}
	if ev.OrgName == "" {
		ev.OrgName = names.OrgName
	}
	if ev.ProductName == "" {
		ev.ProductName = names.ProductName
	}
	if ev.ProductID == 0 {
		ev.ProductID = names.ProductID
	}
	if ev.ProjectName == "" {
		ev.ProjectName = names.ProjectName
	}
	if ev.ProjectToken == "" {
		ev.ProjectToken = names.ProjectToken
	}
	return nil
}

// WebhookEvent is the JSON document posted to an organization's webhook.
type WebhookEvent struct {
	Event          string `json:"event"`
	Organization   string `json:"organization"`
	Product        string `json:"product"`
	Project        string `json:"project"`
	ProjectToken   string `json:"projectToken"`
	Libraries      int    `json:"libraries"`
	RequestToken   string `json:"requestToken"`
	RequesterEmail string `json:"requesterEmail,omitempty"`
	FinishedAt     string `json:"finishedAt"`
}

func newWebhookEvent(ev ingest.SetupEvent) WebhookEvent {
	return WebhookEvent{
		Event:          EventProjectSetup,
		Organization:   ev.OrgName,
		Product:        ev.ProductName,
		Project:        ev.ProjectName,
		ProjectToken:   ev.ProjectToken,
		Libraries:      ev.Libraries,
		RequestToken:   ev.RequestToken,
		RequesterEmail: ev.RequesterEmail,
		FinishedAt:     ev.FinishedAt.UTC().Format(time.RFC3339),
	}
}
