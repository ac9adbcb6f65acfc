package state

import (
	"net/url"
	"testing"
)

func TestReadClaims(t *testing.T) {
	tests := []struct {
		name, payload string
		want          Claims
		err           string
	}{
		{"all", `{"iss":"https://i","phone":13000000001,"jti":"j","keycard_service":"shop","iat":10.9,"exp":20}`,
			Claims{Issuer: "https://i", Subject: "13000000001", JTI: "j", Service: "shop", IssuedAt: 10, Expires: 20}, ""},
		{"names compare exactly", `{"JTI":"j","Jti":"k","ISS":"x","Phone":"p"}`, Claims{}, ""},
		{"an escaped name is its decoded name", `{"\u006a\u0074\u0069":"j"}`, Claims{JTI: "j"}, ""},
		{"jti twice", `{"jti":"a","jti":"b"}`, Claims{}, "claim jti given twice"},
		{"jti twice, once escaped", `{"jti":"a","\u006a\u0074\u0069":"b"}`, Claims{}, "claim jti given twice"},
		{"subject twice", `{"phone":"a","phone":"b"}`, Claims{}, "claim phone given twice"},
		{"jti not a string", `{"jti":1}`, Claims{}, "claim jti: malformed JSON"},
		{"subject an object", `{"phone":{}}`, Claims{}, "claim phone: not a string or number"},
		{"iat a string", `{"iat":"1"}`, Claims{}, "claim iat: not a number"},
		{"iat null is none", `{"iat":null}`, Claims{}, ""},
		{"not an object", `[1]`, Claims{}, "malformed JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadClaims([]byte(tc.payload), []string{"phone"})
			if msg := errString(err); msg != tc.err {
				t.Fatalf("err %q, want %q", msg, tc.err)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestNameKeys: names whose parts differ only in where one part ends
// and the next begins have different keys and queries that read back.
func TestNameKeys(t *testing.T) {
	names := []Name{
		{Service: "shop", Kind: KindJWT, Issuer: "i", Subject: "u1:x", ID: "jti:a"},
		{Service: "shop:u1", Kind: KindJWT, Issuer: "i", Subject: "x", ID: "jti:a"},
		{Service: "shop", Kind: KindJWT, Issuer: "iu1", Subject: "x", ID: "jti:a"},
		{Service: "shop", Kind: KindJWT, Issuer: "", Subject: "brace{x}@example.com\r\n\x00", ID: "jti:a", IssuedAt: 7},
		{Service: "shop", Kind: KindJWT, Issuer: "", Subject: "brace{x}@example.com\r\n\x00", ID: "jti:a"},
		{Service: "shop", Kind: KindOpaque, ID: "sha256:00"},
	}
	seen := map[string]int{}
	for i, n := range names {
		if j, ok := seen[n.Key()]; ok {
			t.Errorf("names %d and %d share the key %q", j, i, n.Key())
		}
		seen[n.Key()] = i
		u, err := url.Parse(n.Query())
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseQuery(u.Query())
		if err != nil || back != n {
			t.Errorf("%d: query %s reads back as %+v %v", i, n.Query(), back, err)
		}
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct{ name, query, err string }{
		{"an old filter's question", "service=shop&token=jti:a&user=u", "kind must be jwt or opaque (a filter older than this sidecar?)"},
		{"no service", "kind=jwt&token=jti:a", "service is required"},
		{"no token", "service=shop&kind=jwt", "token is required"},
		{"a user twice", "service=shop&kind=jwt&token=jti:a&user=a&user=b", "user given more than once"},
		{"an unknown parameter", "service=shop&kind=jwt&token=jti:a&who=x", `unknown parameter "who"`},
		{"an opaque token with a user", "service=shop&kind=opaque&token=sha256:00&user=u", "an opaque token has no issuer, user or iat"},
		{"a bad iat", "service=shop&kind=jwt&token=jti:a&iat=x", "iat must be a non-zero number of seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			if _, err := ParseQuery(q); errString(err) != tc.err {
				t.Errorf("err %q, want %q", errString(err), tc.err)
			}
		})
	}
}

func FuzzReadClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"https://i","sub":"u","jti":"j","iat":1}`))
	f.Add([]byte(`{"jti":"a","\u006a\u0074\u0069":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ReadClaims(data, []string{"sub"})
	})
}
