package jsonscan

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestObject(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		keys []string
	}{
		{`{}`, true, nil},
		{` {"a":1, "b" : [1,{"c":null}], "d":"x\"y"} `, true, []string{"a", "b", "d"}},
		{`{"a\u0062":true}`, true, []string{"ab"}},
		{`{"a":1,}`, false, nil},
		{`{"a":01}`, false, nil},
		{`{"a":1.}`, false, nil},
		{`{"a":-}`, false, nil},
		{`{"a":"\x"}`, false, nil},
		{"{\"a\":\"\x01\"}", false, nil},
		{`{"a":1}x`, false, nil},
		{`[1]`, false, nil},
		{`{"a" 1}`, false, nil},
		{`{"a":tru}`, false, nil},
		{`{"a":"\u12"}`, false, nil},
	}
	for _, tc := range tests {
		var keys []string
		err := Object([]byte(tc.in), func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
		if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(keys, tc.keys)) {
			t.Errorf("Object(%s) = %v %v, want ok=%v %v", tc.in, keys, err, tc.ok, tc.keys)
		}
	}
}

// FuzzObject holds the reader to encoding/json: it accepts an input
// exactly when encoding/json takes it as one object, and decodes each
// member's string value (or string list) as encoding/json does.
func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b","c":[1,"2"],"d":{"e":[]}}`, `{"a":"\u00e9\n"}`, `{"x":1e5,"y":-0.5}`, `[]`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := map[string]json.RawMessage{}
		err := Object(data, func(k, raw []byte) error { got[string(k)] = raw; return nil })
		var want map[string]json.RawMessage
		werr := json.Unmarshal(data, &want)
		isObject := werr == nil && want != nil
		if (err == nil) != isObject {
			t.Fatalf("Object err=%v, encoding/json err=%v object=%v for %q", err, werr, isObject, data)
		}
		if err != nil {
			return
		}
		for k, raw := range got {
			var ws string
			if json.Unmarshal(raw, &ws) == nil {
				gs, gerr := String(raw)
				if gerr != nil || gs != ws {
					t.Fatalf("string %s: got %q %v, want %q", raw, gs, gerr, ws)
				}
			}
			var wl []string
			if json.Unmarshal(raw, &wl) == nil && raw[0] == '[' {
				gl, gerr := Strings(raw)
				if gerr != nil || !reflect.DeepEqual(gl, wl) {
					t.Fatalf("list %s: got %q %v, want %q", raw, gl, gerr, wl)
				}
			}
			_ = k
		}
	})
}
