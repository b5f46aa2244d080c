package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tallyhq/tally/internal/notify"
	"github.com/tallyhq/tally/internal/store"
)

// adminSetWebhook sets (or with --remove, removes) an organization's
// notification webhook. The signing secret is made on first use and kept
// when the URL changes, unless --rotate-secret; it is printed every time.
func adminSetWebhook(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("admin set-webhook")
	db := env.dbFlag(fs)
	orgToken := fs.String("org-token", "", "the organization's token")
	url := fs.String("url", "", "where project setup events are posted (http:// or https://)")
	rotate := fs.Bool("rotate-secret", false, "make a new signing secret")
	remove := fs.Bool("remove", false, "remove the organization's webhook")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required("org-token", *orgToken); err != nil {
		return fmt.Errorf("admin set-webhook: %w", err)
	}
	if *remove == (strings.TrimSpace(*url) != "") {
		return errors.New("admin set-webhook: give either --url or --remove")
	}
	if !*remove {
		if err := notify.CheckWebhookURL(strings.TrimSpace(*url)); err != nil {
			return fmt.Errorf("admin set-webhook: %w", err)
		}
	}
	st, org, err := openOrg(ctx, *db, *orgToken, "admin set-webhook")
	if err != nil {
		return err
	}
	defer st.Close()
	if *remove {
		existed, err := st.DeleteWebhook(ctx, org.ID)
		if err != nil {
			return err
		}
		out := struct {
			Removed bool `json:"removed"`
		}{existed}
		text := "webhook removed"
		if !existed {
			text = "the organization had no webhook"
		}
		return env.output(*asJSON, out, text)
	}
	secret := ""
	if old, err := st.WebhookOf(ctx, org.ID); err == nil && !*rotate {
		secret = old.Secret
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if secret == "" {
		if secret, err = notify.NewWebhookSecret(); err != nil {
			return err
		}
	}
	w, err := st.SetWebhook(ctx, org.ID, strings.TrimSpace(*url), secret)
	if err != nil {
		return err
	}
	out := struct {
		URL    string `json:"url"`
		Secret string `json:"secret"`
	}{w.URL, w.Secret}
	return env.output(*asJSON, out, fmt.Sprintf("webhook: %s\nsigning secret: %s\n(each call carries %s: sha256=HMAC-SHA256(secret, %s + \".\" + body))",
		w.URL, w.Secret, notify.HeaderSignature, notify.HeaderTimestamp))
}
