package config

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// The table is almost all of a configuration: 15 MiB of base64 at a
// million routes against a few hundred bytes of settings. encoding/json
// runs its scanner's state machine over every byte of that string, twice
// (once to find the end of the value, once to decode it), which inside a
// wasm VM costs more than decoding the table itself. splitTable finds the
// table's string by a plain walk over the top-level members, so that
// encoding/json sees the settings alone and the table goes straight to
// the base64 decoder.
//
// The walk only locates; it validates nothing that encoding/json would:
// the document it hands on is the original with the table's characters
// taken out, and it declines (ok false, so that Decode takes the plain
// path) whenever anything is unusual — a key spelled with escapes, a
// second member that encoding/json would also read into Table (its
// matching is case-insensitive), a value that is not a string of base64
// characters only.

// splitTable returns data with the top-level "table" member's string
// emptied and that string's contents, or ok false.
func splitTable(data []byte) (rest, table []byte, ok bool) {
	w := walker{b: data}
	w.space()
	if !w.eat('{') {
		return nil, nil, false
	}
	start, end := -1, -1
	w.space()
	if w.eat('}') {
		return nil, nil, false
	}
	for {
		w.space()
		key, ok := w.plainString()
		if !ok {
			return nil, nil, false
		}
		w.space()
		if !w.eat(':') {
			return nil, nil, false
		}
		w.space()
		if strings.EqualFold(string(key), "table") {
			if start >= 0 || w.i >= len(w.b) || w.b[w.i] != '"' {
				return nil, nil, false
			}
			v, ok := w.plainString()
			if !ok || !base64Chars(v) {
				return nil, nil, false
			}
			end = w.i - 1
			start = end - len(v)
		} else if !w.value() {
			return nil, nil, false
		}
		w.space()
		if w.eat(',') {
			continue
		}
		if w.eat('}') {
			break
		}
		return nil, nil, false
	}
	if start < 0 {
		return nil, nil, false
	}
	rest = make([]byte, 0, len(data)-(end-start))
	rest = append(append(rest, data[:start]...), data[end:]...)
	return rest, data[start:end], true
}

// decodeTableField decodes the table's base64 as encoding/json would
// into a []byte.
func decodeTableField(s []byte) ([]byte, error) {
	return base64.StdEncoding.AppendDecode(nil, s)
}

func base64Chars(s []byte) bool {
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// walker steps over JSON text without checking it beyond what it needs
// to find where each top-level value ends.
type walker struct {
	b []byte
	i int
}

func (w *walker) space() {
	for w.i < len(w.b) && (w.b[w.i] == ' ' || w.b[w.i] == '\t' || w.b[w.i] == '\n' || w.b[w.i] == '\r') {
		w.i++
	}
}

func (w *walker) eat(c byte) bool {
	if w.i < len(w.b) && w.b[w.i] == c {
		w.i++
		return true
	}
	return false
}

// plainString reads a string with no escapes and returns its contents.
func (w *walker) plainString() ([]byte, bool) {
	if !w.eat('"') {
		return nil, false
	}
	n := bytes.IndexAny(w.b[w.i:], "\"\\")
	if n < 0 || w.b[w.i+n] != '"' {
		return nil, false
	}
	s := w.b[w.i : w.i+n]
	w.i += n + 1
	return s, true
}

// value steps over one value of any kind.
func (w *walker) value() bool {
	depth := 0
	for w.i < len(w.b) {
		switch c := w.b[w.i]; c {
		case '"':
			if !w.skipString() {
				return false
			}
		case '{', '[':
			depth++
			w.i++
		case '}', ']':
			if depth == 0 {
				return true // the end of the enclosing object: a scalar ended here
			}
			depth--
			w.i++
		case ',':
			if depth == 0 {
				return true
			}
			w.i++
		default:
			w.i++
		}
		if depth == 0 && w.i > 0 && (w.b[w.i-1] == '"' || w.b[w.i-1] == '}' || w.b[w.i-1] == ']') {
			return true
		}
	}
	return false
}

// skipString steps over a string, escapes included.
func (w *walker) skipString() bool {
	w.i++ // the opening quote
	for w.i < len(w.b) {
		n := bytes.IndexAny(w.b[w.i:], "\"\\")
		if n < 0 {
			return false
		}
		w.i += n
		if w.b[w.i] == '"' {
			w.i++
			return true
		}
		w.i += 2 // a backslash and the byte it escapes
	}
	return false
}
