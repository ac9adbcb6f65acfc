package config

import (
	"reflect"
	"testing"
)

func TestSplitTable(t *testing.T) {
	tests := []struct {
		name, in, rest, table string
		ok                    bool
	}{
		{"plain", `{"version":1,"table":"S0NEVA==","policy":"p"}`, `{"version":1,"table":"","policy":"p"}`, "S0NEVA==", true},
		{"spaces", " {\n \"table\" :\t\"QUJD\" \r\n} ", " {\n \"table\" :\t\"\" \r\n} ", "QUJD", true},
		{"first", `{"table":"QUJD"}`, `{"table":""}`, "QUJD", true},
		{"nested members are not the table", `{"identity":{"table":"QUJD","x":[{"table":"x"}]},"table":"REVG"}`, `{"identity":{"table":"QUJD","x":[{"table":"x"}]},"table":""}`, "REVG", true},
		{"strings with escapes and brackets", `{"policy":"a\"}\\","levels":[1,{"b":"]"}],"table":"QUJD"}`, `{"policy":"a\"}\\","levels":[1,{"b":"]"}],"table":""}`, "QUJD", true},
		{"scalars", `{"version":1,"shadow":true,"x":null,"table":"QUJD"}`, `{"version":1,"shadow":true,"x":null,"table":""}`, "QUJD", true},
		{"no table", `{"version":1}`, "", "", false},
		{"empty object", `{}`, "", "", false},
		{"not an object", `["table","QUJD"]`, "", "", false},
		{"two tables (json takes the last, case-insensitively)", `{"table":"QUJD","TABLE":"REVG"}`, "", "", false},
		{"escaped key", `{"t\u0061ble":"QUJD"}`, "", "", false},
		{"escape in the table", `{"table":"QU\nJD"}`, "", "", false},
		{"not base64", `{"table":"QU JD"}`, "", "", false},
		{"null table", `{"table":null}`, "", "", false},
		{"unterminated", `{"table":"QUJD`, "", "", false},
		{"missing colon", `{"table" "QUJD"}`, "", "", false},
		{"junk after a value", `{"a":"x" y,"table":"QUJD"}`, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, table, ok := splitTable([]byte(tt.in))
			if ok != tt.ok || string(rest) != tt.rest || string(table) != tt.table {
				t.Errorf("splitTable(%s) = %q, %q, %v; want %q, %q, %v", tt.in, rest, table, ok, tt.rest, tt.table, tt.ok)
			}
		})
	}
}

// FuzzDecodeFast: whatever the bytes, the fast path decodes exactly what
// encoding/json decodes, or declines.
func FuzzDecodeFast(f *testing.F) {
	f.Add([]byte(`{"version":1,"table":"S0NEVA==","policy":"p"}`))
	f.Add([]byte(`{"identity":{"table":"QUJD"},"table":"REVG","levels":[{"name":"a","level":1}]}`))
	f.Add([]byte(`{"table":"QUJD","Table":"REVG"}`))
	f.Add([]byte(`{"policy":"a\"}\\","table":"QUJD"} {}`))
	f.Add([]byte(`{"table":"QUJ"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, err := decodeFast(data)
		if err != nil {
			return
		}
		plain, err := decodeJSON(data)
		if err != nil {
			t.Fatalf("the fast path took what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(fast, plain) {
			t.Fatalf("fast %+v\nplain %+v", fast, plain)
		}
	})
}
