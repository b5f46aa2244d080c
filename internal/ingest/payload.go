package ingest

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// A queued request's payload is stored as "z:" and the Base64 of the
// DEFLATE-compressed JSON (fastest level): about a quarter of the JSON's
// size, which keeps the database's write-ahead log small for large
// inventories. Payloads without the prefix are plain JSON.
const payloadPrefix = "z:"

func encodePayload(pl *payload) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(payloadPrefix)
	b64 := base64.NewEncoder(base64.StdEncoding, &buf)
	zw, err := flate.NewWriter(b64, flate.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	if err := json.NewEncoder(zw).Encode(pl); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	if err := b64.Close(); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return buf.Bytes(), nil
}

func decodePayload(raw []byte) (*payload, error) {
	pl := &payload{}
	s := string(raw)
	if !strings.HasPrefix(s, payloadPrefix) {
		if err := json.Unmarshal(raw, pl); err != nil {
			return nil, fmt.Errorf("decode payload: %w", err)
		}
		return pl, nil
	}
	zr := flate.NewReader(base64.NewDecoder(base64.StdEncoding, strings.NewReader(s[len(payloadPrefix):])))
	defer zr.Close()
	js, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	if err := json.Unmarshal(js, pl); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	return pl, nil
}
