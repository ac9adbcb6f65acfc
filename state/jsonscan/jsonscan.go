package jsonscan

import (
	"encoding/json"
	"errors"
)

// ErrJSON is the error for text that is not the JSON expected.
var ErrJSON = errors.New("malformed JSON")

const maxDepth = 32

// Object calls fn for each member of the object that data holds, with
// the member's name decoded and its value as raw JSON text. The name is
// only valid during the call (it may point into data): compare it with
// string(key) == "…", which does not allocate, and copy what is kept.
func Object(data []byte, fn func(key, raw []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return ErrJSON
	}
	end, err := skipObject(data, i, 0, fn)
	if err != nil {
		return err
	}
	if skipSpace(data, end) != len(data) {
		return ErrJSON
	}
	return nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipObject reads the object at data[i] ('{') and returns the index after
// it. fn, when set, receives every member.
func skipObject(data []byte, i, depth int, fn func(key, raw []byte) error) (int, error) {
	if depth > maxDepth {
		return 0, ErrJSON
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, ErrJSON
		}
		kend, err := skipString(data, i)
		if err != nil {
			return 0, err
		}
		key := data[i:kend]
		i = skipSpace(data, kend)
		if i >= len(data) || data[i] != ':' {
			return 0, ErrJSON
		}
		vstart := skipSpace(data, i+1)
		vend, err := skipValue(data, vstart, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			k, err := name(key)
			if err != nil {
				return 0, err
			}
			if err := fn(k, data[vstart:vend]); err != nil {
				return 0, err
			}
		}
		i = skipSpace(data, vend)
		if i >= len(data) {
			return 0, ErrJSON
		}
		if data[i] == '}' {
			return i + 1, nil
		}
		if data[i] != ',' {
			return 0, ErrJSON
		}
		i = skipSpace(data, i+1)
	}
}

func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return 0, ErrJSON
	}
	switch c := data[i]; {
	case c == '{':
		return skipObject(data, i, depth, nil)
	case c == '[':
		return skipArray(data, i, depth, nil)
	case c == '"':
		return skipString(data, i)
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(data, i)
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	}
	return 0, ErrJSON
}

// skipArray reads the array at data[i] ('['); fn, when set, receives
// every element as raw JSON text.
func skipArray(data []byte, i, depth int, fn func([]byte) error) (int, error) {
	if depth > maxDepth {
		return 0, ErrJSON
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := skipValue(data, i, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(data[i:end]); err != nil {
				return 0, err
			}
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, ErrJSON
		}
		if data[i] == ']' {
			return i + 1, nil
		}
		if data[i] != ',' {
			return 0, ErrJSON
		}
		i = skipSpace(data, i+1)
	}
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, ErrJSON
	}
	return i + len(lit), nil
}

// skipString reads the string at data[i] ('"'), checking its escapes.
func skipString(data []byte, i int) (int, error) {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return 0, ErrJSON
		case c == '\\':
			i++
			if i >= len(data) {
				return 0, ErrJSON
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(data)-i < 5 {
					return 0, ErrJSON
				}
				for _, h := range data[i+1 : i+5] {
					if !isHex(h) {
						return 0, ErrJSON
					}
				}
				i += 4
			default:
				return 0, ErrJSON
			}
		}
	}
	return 0, ErrJSON
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipNumber reads a number with JSON's grammar.
func skipNumber(data []byte, i int) (int, error) {
	if data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if digits() == 0 {
		return 0, ErrJSON
	}
	if i < len(data) && data[i] == '.' {
		i++
		if digits() == 0 {
			return 0, ErrJSON
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, ErrJSON
		}
	}
	return i, nil
}

// String decodes a raw JSON string (already checked by skipString).
func String(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", ErrJSON
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			var s string // escapes or non-ASCII: let encoding/json decide
			err := json.Unmarshal(raw, &s)
			return s, err
		}
	}
	return string(inner), nil
}

// name decodes a member name: the bytes between the quotes when it
// has no escapes (no copy), else its decoded form, so that "\u0065xp" is
// exp and a duplicate cannot hide behind an escape.
func name(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, ErrJSON
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			s, err := String(raw)
			return []byte(s), err
		}
	}
	return inner, nil
}

// Strings decodes a raw JSON array of strings.
func Strings(raw []byte) ([]string, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, ErrJSON
	}
	out := []string{}
	_, err := skipArray(raw, 0, 0, func(el []byte) error {
		s, err := String(el)
		if err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// StringOrNumber reads a string, or a number as its text (a phone number
// may come either way).
func StringOrNumber(raw []byte) (string, error) {
	if raw[0] == '"' {
		return String(raw)
	}
	if raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9') {
		return string(raw), nil
	}
	return "", errors.New("not a string or number")
}
