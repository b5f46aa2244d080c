package api

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/tallyhq/tally/internal/store"
)

// Project setup notification actions.
const (
	notifyEnabled  = "ENABLED"
	notifyDisabled = "DISABLED"
	notifyCustom   = "CUSTOM"
)

const maxRegexLen = 1024

func (a *API) setProjectSetupNotificationConfig(ctx context.Context, c *call) (any, error) {
	org, err := a.orgScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.IsOrgAdmin()); err != nil {
		return nil, err
	}
	action, err := c.str("action")
	if err != nil {
		return nil, err
	}
	cfg := store.NotificationConfig{Action: strings.ToUpper(strings.TrimSpace(action))}
	switch cfg.Action {
	case notifyEnabled, notifyDisabled:
	case notifyCustom:
		if cfg.KeyRegex, err = regexField(c, "projectTagKeyRegex"); err != nil {
			return nil, err
		}
		if cfg.ValueRegex, err = regexField(c, "projectTagValueRegex"); err != nil {
			return nil, err
		}
	default:
		return nil, errorf(CodeInvalidParameters, "Invalid value for action: %s (one of Enabled, Disabled, Custom)", action)
	}
	if err := a.store.SetNotificationConfig(ctx, org.ID, cfg); err != nil {
		return nil, err
	}
	return message{"Successfully changed project setup completion notification configuration"}, nil
}

// regexField reads a required regular expression in Go's RE2 syntax, which
// matches in linear time, so no pattern can stall the server.
func regexField(c *call, name string) (string, error) {
	s, err := c.str(name)
	if err != nil {
		return "", err
	}
	if len(s) > maxRegexLen {
		return "", errorf(CodeInvalidParameters, "Invalid value for %s: longer than %d characters", name, maxRegexLen)
	}
	if _, err := regexp.Compile(s); err != nil {
		return "", errorf(CodeInvalidParameters, "Invalid value for %s: not a valid regular expression: %v", name, err)
	}
	return s, nil
}

// getProjectSetupNotificationConfig is Tally's own: it reads back what
// setProjectSetupNotificationConfig stored (DISABLED when never set).
func (a *API) getProjectSetupNotificationConfig(ctx context.Context, c *call) (any, error) {
	org, err := a.readableOrg(ctx, c)
	if err != nil {
		return nil, err
	}
	cfg, err := a.store.NotificationConfigOf(ctx, org.ID)
	if errors.Is(err, store.ErrNotFound) {
		cfg = store.NotificationConfig{Action: notifyDisabled}
	} else if err != nil {
		return nil, err
	}
	type config struct {
		Action               string `json:"action"`
		ProjectTagKeyRegex   string `json:"projectTagKeyRegex,omitempty"`
		ProjectTagValueRegex string `json:"projectTagValueRegex,omitempty"`
	}
	return struct {
		Config config `json:"projectSetupNotificationConfig"`
	}{config{cfg.Action, cfg.KeyRegex, cfg.ValueRegex}}, nil
}
