package filter_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/filter"
)

// inlineEngine compiles a one-file policy whose HMAC issuers read their
// secret from any environment variable, and builds its engine.
func inlineEngine(t *testing.T, policy, secret string) (*compiler.Result, *filter.Engine) {
	t.Helper()
	res, err := compiler.Compile([]string{"p.yaml"}, map[string][]byte{"p.yaml": []byte(policy)}, compiler.Settings{Env: func(string) (string, bool) { return secret, true }})
	if err != nil {
		t.Fatal(err)
	}
	e, err := filter.New(res.Config, res.Table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return res, e
}

// hs256 signs claims with secret.
func hs256(secret string, claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		panic(err)
	}
	return s
}

// get decides GET host path with the bearer token ("" for none) and
// returns the decision with its status (200 when allowed).
func get(e *filter.Engine, host, path, token string) (filter.Decision, int) {
	return send(e, "GET", host, path, token)
}

// send is get for any method.
func send(e *filter.Engine, method, host, path, token string) (filter.Decision, int) {
	var h filter.HeaderList
	if token != "" {
		h = filter.HeaderList{{"authorization", "Bearer " + token}}
	}
	d := e.Decide(&filter.Request{Method: method, Authority: host, Path: path, Headers: h})
	if !d.Allow {
		return d, d.Status
	}
	return d, 200
}
