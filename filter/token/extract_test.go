package token

import (
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/config"
)

var sources = LowerSources([]config.TokenSource{{Header: "Authorization", Scheme: "Bearer"}, {Header: "X-Auth-Token"}, {Cookie: "session"}})

func TestExtract(t *testing.T) {
	tests := []struct {
		name    string
		headers HeaderList
		want    string
		err     error
	}{
		{"none", nil, "", nil},
		{"bearer", HeaderList{{"authorization", "Bearer abc"}}, "abc", nil},
		{"scheme case", HeaderList{{"authorization", "bearer abc"}}, "abc", nil},
		{"other scheme", HeaderList{{"authorization", "Basic abc"}}, "", nil},
		{"scheme only", HeaderList{{"authorization", "Bearer"}}, "", nil},
		{"second source", HeaderList{{"x-auth-token", "t1"}}, "t1", nil},
		{"cookie", HeaderList{{"cookie", "a=1; session=s1; b=2"}}, "s1", nil},
		{"quoted cookie", HeaderList{{"cookie", `session="s1"`}}, "s1", nil},
		{"same token twice", HeaderList{{"authorization", "Bearer t"}, {"x-auth-token", "t"}}, "t", nil},
		{"two tokens", HeaderList{{"authorization", "Bearer t"}, {"x-auth-token", "u"}}, "", ErrAmbiguous},
		{"two cookies", HeaderList{{"cookie", "session=a"}, {"cookie", "session=b"}}, "", ErrAmbiguous},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Extract(sources, tc.headers)
			if got != tc.want || err != tc.err {
				t.Errorf("got %q %v, want %q %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// FuzzExtract: any header values give a token or ErrAmbiguous, and a
// token found is one of the values sent (never a mix of two).
func FuzzExtract(f *testing.F) {
	f.Add("Bearer abc", "abc", "session=abc")
	f.Add("bearer x", "y", "a=b;session=\"z\"")
	f.Fuzz(func(t *testing.T, auth, xauth, cookie string) {
		h := HeaderList{{"authorization", auth}, {"x-auth-token", xauth}, {"cookie", cookie}}
		tok, err := Extract(sources, h)
		if err != nil {
			if err != ErrAmbiguous {
				t.Fatalf("error %v", err)
			}
			return
		}
		if tok != "" && !contains(auth, tok) && !contains(xauth, tok) && !contains(cookie, tok) {
			t.Fatalf("token %q is in no header", tok)
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// FuzzTrimmed: where trimmed says a value needs no trimming,
// strings.TrimSpace leaves it as it is, whitespace of more than one byte
// at either end included.
func FuzzTrimmed(f *testing.F) {
	for _, s := range []string{"", "a", " a", "a ", "\ta\t", "tok\u00a0", "\u0085tok", "\u2003x\u2003", "x\x7f", "\x7fx", "\xff", "a\xc2", "\u3000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if trimmed(s) && strings.TrimSpace(s) != s {
			t.Fatalf("trimmed(%q), but TrimSpace makes it %q", s, strings.TrimSpace(s))
		}
	})
}
