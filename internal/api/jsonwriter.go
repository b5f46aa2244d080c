package api

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tallyhq/tally/internal/inventory"
)

// The inventory reads answer thousands of libraries per response, so they
// are written by hand with append-style helpers instead of reflection: the
// output is byte-for-byte what encoding/json (with HTML escaping off) would
// write for the same structs, at a fraction of the cost (see
// BenchmarkHierarchyEncode).

// rawJSON is a response body already encoded.
type rawJSON []byte

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// with SetEscapeHTML(false): quotes, backslashes, control characters,
// U+2028, U+2029, and invalid UTF-8 as U+FFFD. Like encodeSuccess, it
// writes the words clients take for an error with one escaped letter.
func appendString(b []byte, s string) []byte {
	if strings.Contains(s, "error") {
		mark := len(b)
		b = appendEscaped(b, s)
		return append(b[:mark], escapeErrorWords(b[mark:])...)
	}
	return appendEscaped(b, s)
}

func appendEscaped(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendField appends ,"key":"value" (key is a trusted literal).
func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendOptField is appendField for omitempty fields.
func appendOptField(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	return appendField(b, key, value)
}

func appendLicenses(b []byte, names []string) []byte {
	b = append(b, `"licenses":[`...)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, n)
		b = append(b, `,"url":""}`...)
	}
	return append(b, ']')
}

// appendLibraryFields writes a library's fields (without the closing brace)
// in the order and with the omissions of the spec's examples.
func appendLibraryFields(b []byte, pl *inventory.ProjectLibrary) []byte {
	b = append(b, `{"keyUuid":`...)
	b = appendString(b, pl.KeyUUID)
	b = append(b, `,"keyId":`...)
	b = strconv.AppendInt(b, pl.ID, 10)
	b = appendOptField(b, "filename", pl.Filename)
	b = appendField(b, "name", pl.Name)
	b = appendOptField(b, "groupId", pl.GroupID)
	b = appendField(b, "artifactId", pl.ArtifactID)
	b = appendOptField(b, "version", pl.Version)
	b = appendOptField(b, "sha1", pl.Sha1)
	b = appendField(b, "type", pl.Type)
	b = appendOptField(b, "coordinates", pl.Coordinates())
	b = append(b, ',')
	b = appendLicenses(b, pl.Licenses)
	// Vulnerabilities are [] and outdated false until version and
	// vulnerability data exist.
	b = append(b, `,"vulnerabilities":[],"outdated":false`...)
	b = appendOptField(b, "matchType", pl.MatchType)
	return b
}
