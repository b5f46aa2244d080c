package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tallyhq/tally/internal/store"
)

// Webhook request headers.
const (
	HeaderEvent     = "X-Tally-Event"
	HeaderDelivery  = "X-Tally-Delivery"
	HeaderTimestamp = "X-Tally-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// organization's webhook secret, of the timestamp header's value, a
	// dot, and the request body.
	HeaderSignature = "X-Tally-Signature"
)

// NewWebhookSecret returns a new random secret for signing webhook calls.
func NewWebhookSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return "whsec_" + hex.EncodeToString(b[:]), nil
}

// CheckWebhookURL accepts absolute http and https URLs with a host.
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("webhook URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook URL %q: want an absolute http:// or https:// URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("webhook URL %q: credentials in the URL are not allowed", raw)
	}
	return nil
}

// Sign returns the X-Tally-Signature value of body sent at timestamp (Unix
// seconds) with secret.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// postWebhook delivers one outbox webhook call to the organization's
// current webhook. A 2xx answer is delivered; 408, 429 and 5xx are retried;
// another 4xx is a permanent refusal.
func (s *Sender) postWebhook(ctx context.Context, m store.OutboxMessage) error {
	w, err := s.store.WebhookOf(ctx, m.OrgID)
	if errors.Is(err, store.ErrNotFound) {
		return permanent(errors.New("the organization's webhook was removed"))
	}
	if err != nil {
		return err
	}
	body := []byte(m.Payload)
	ts := time.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tally-Webhook")
	req.Header.Set(HeaderEvent, m.Event)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(m.ID, 10))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook %s: %s: %s", w.URL, resp.Status, bytes.TrimSpace(snippet))
	default:
		return permanent(fmt.Errorf("webhook %s: %s: %s", w.URL, resp.Status, bytes.TrimSpace(snippet)))
	}
}
