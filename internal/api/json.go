package api

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Clients treat any response whose text contains "errorCode" (the Mend
// Python SDK) or that has an "errorMessage" key as an error. Stored text
// (names, descriptions, tag values) is echoed back in success bodies, so the
// encoder writes those two words with one letter as a JSON \u escape: the
// decoded strings are unchanged, the raw text no longer matches.
var (
	rawErrorCode    = []byte("errorCode")
	rawErrorMessage = []byte("errorMessage")
	escErrorCode    = []byte(`error\u0043ode`)
	escErrorMessage = []byte(`error\u004dessage`)
)

// encodeSuccess encodes a success body.
func encodeSuccess(v any) ([]byte, error) {
	if raw, ok := v.(rawJSON); ok {
		return raw, nil // written with appendString, which escapes them
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return escapeErrorWords(buf.Bytes()), nil
}

// escapeErrorWords returns b with the error words escaped; it returns b
// itself when they do not occur.
func escapeErrorWords(b []byte) []byte {
	if bytes.Contains(b, rawErrorCode) {
		b = bytes.ReplaceAll(b, rawErrorCode, escErrorCode)
	}
	if bytes.Contains(b, rawErrorMessage) {
		b = bytes.ReplaceAll(b, rawErrorMessage, escErrorMessage)
	}
	return b
}

type errorBody struct {
	ErrorCode    int    `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

// writeJSON writes a body with HTTP 200, the protocol's status for both
// success and API-level errors.
func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *Error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{ErrorCode: e.Code, ErrorMessage: e.Message})
	writeJSON(w, buf.Bytes())
}
