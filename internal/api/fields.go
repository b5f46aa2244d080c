package api

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Field accessors. A missing field is 3010, a field of the wrong JSON type
// or an unusable value is 3000; both name the field.

func (c *call) has(name string) bool {
	v, ok := c.fields[name]
	return ok && string(v) != "null"
}

// str returns a required string field.
func (c *call) str(name string) (string, error) {
	if !c.has(name) {
		return "", errorf(CodeMissingFields, "Missing fields: %s", name)
	}
	var s string
	if err := json.Unmarshal(c.fields[name], &s); err != nil {
		return "", errorf(CodeInvalidParameters, "Invalid value for %s: expected a string", name)
	}
	if strings.TrimSpace(s) == "" {
		return "", errorf(CodeMissingFields, "Missing fields: %s", name)
	}
	return s, nil
}

// optStr returns an optional string field, "" when absent.
func (c *call) optStr(name string) (string, error) {
	if !c.has(name) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(c.fields[name], &s); err != nil {
		return "", errorf(CodeInvalidParameters, "Invalid value for %s: expected a string", name)
	}
	return s, nil
}

// optBool returns an optional boolean field; "true"/"false" strings are
// accepted too, as the spec describes the value in quotes.
func (c *call) optBool(name string, def bool) (bool, error) {
	if !c.has(name) {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(c.fields[name], &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(c.fields[name], &s); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, errorf(CodeInvalidParameters, "Invalid value for %s: expected true or false", name)
}

// name validates a product or project name.
func (c *call) name(field string) (string, error) {
	s, err := c.str(field)
	if err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if err := checkText(field, s, maxNameLen); err != nil {
		return "", err
	}
	return s, nil
}

// Limits on stored text (docs/api.md).
const (
	maxNameLen        = 255
	maxTagKeyLen      = 255
	maxTagValueLen    = 1024
	maxDescriptionLen = 4096
)

func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidParameters, "Invalid value for %s: not valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > max {
		return errorf(CodeInvalidParameters, "Invalid value for %s: longer than %d characters", field, max)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' }) {
		return errorf(CodeInvalidParameters, "Invalid value for %s: contains control characters", field)
	}
	return nil
}
