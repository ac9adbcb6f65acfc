package token

import "testing"

// TestParseLevel: a level claim is an exact integer from 0 to 255 in any
// JSON number form, or a string of plain decimal digits.
func TestParseLevel(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"2", 2, true}, {"2.0", 2, true}, {"2e0", 2, true}, {"20e-1", 2, true}, {"0.2E1", 2, true}, {"255", 255, true},
		{"256", 0, false}, {"-1", 0, false}, {"1.5", 0, false}, {"-0", 0, true}, {"0e999999", 0, true},
		{"1e999999999", 0, false}, {"2e99", 0, false}, {"25500e-2", 255, true},
		{`"2"`, 2, true}, {`"0"`, 0, true}, {`"+2"`, 0, false}, {`"02"`, 0, false}, {`" 2"`, 0, false}, {`"2.0"`, 0, false}, {`"256"`, 0, false}, {`""`, 0, false},
		{"true", 0, false}, {"null", 0, false},
	} {
		got, ok := parseLevel([]byte(c.in))
		if ok != c.ok || ok && got != c.want {
			t.Errorf("parseLevel(%s) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
