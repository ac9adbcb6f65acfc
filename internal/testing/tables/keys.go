package tables

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/idp"
)

// KeyTarget is a target of the remote-keys scenario: the module in a
// host configured with RemoteKeysPolicy, its keys held by a real sidecar
// in front of the provider.
type KeyTarget interface {
	// Me sends GET api.example/me with the bearer token and returns the
	// status, a denial's reason, and the subject the upstream received.
	Me(tok string) (status int, reason, subject string, err error)
	// Tick lets the host's time run for d: its ticks (the filter polls
	// the sidecar on them) and call-outs' answers.
	Tick(d time.Duration)
	// Waits reports whether a request whose token needs keys waits for
	// their fetch (Envoy, the wazero model with one VM), so that it
	// passes on its first try; Kong's workers each fetch for
	// themselves, and a request that meets a fetch in flight is decided
	// with the keys at hand.
	Waits() bool
}

// RunRemoteKeys plays the remote-keys scenario against target with p as
// RemoteKeysPolicy's OpenID provider: a token's keys fetched when it
// first needs them; the run-time secret's tokens; a rotated key's token
// and the old one while the provider publishes both; the old one refused
// once the provider retires it; and made-up kids refused for 1.5 s with
// at most one provider fetch per min_interval (200ms) for them, plus
// the sidecar's own refresh each second.
func RunRemoteKeys(t *testing.T, p *idp.Provider, target KeyTarget) {
	expect := func(what, tok string, status int, reason string) {
		t.Helper()
		got, why, sub, err := target.Me(tok)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != status || status != 200 && why != reason || status == 200 && sub != "alice" {
			t.Fatalf("%s: %d %s (subject %q), want %d %s", what, got, why, sub, status, reason)
		}
	}
	// settle: passes on its first try where requests wait for keys, else
	// six times in a row within 3s.
	settle := func(what, tok string) {
		t.Helper()
		if target.Waits() {
			expect(what, tok, 200, "")
			return
		}
		deadline := time.Now().Add(3 * time.Second)
		for passed := 0; passed < 6; {
			status, reason, _, err := target.Me(tok)
			switch {
			case err != nil:
				t.Fatalf("%s: %v", what, err)
			case status == 200:
				passed++
			case status == 401 || status == 503 && reason == "keys_unavailable":
				passed = 0
			default:
				t.Fatalf("%s: %d %s", what, status, reason)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still refused after 3s", what)
			}
			target.Tick(20 * time.Millisecond)
		}
	}
	sign := func(kid string) string {
		t.Helper()
		tok, err := p.SignWith(kid, jwt.MapClaims{"sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	old := sign("")
	settle("the first token, its keys fetched when it needs them", old)
	login, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://login.example", "sub": "alice", "level": 1, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(RuntimeSecret))
	settle("a token of the run-time secret", login)

	kid, _ := p.Rotate()
	fresh := sign(kid)
	settle("a rotated key's token", fresh)
	expect("the old key's token while the provider publishes it", old, 200, "")

	p.Retire()
	deadline := time.Now().Add(10 * time.Second)
	for refused := 0; refused < 6; {
		status, _, _, err := target.Me(old)
		if err != nil {
			t.Fatal(err)
		}
		if status == 401 {
			refused++
		} else {
			refused = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("a retired key's token still passes 10s after the provider retired it")
		}
		target.Tick(100 * time.Millisecond)
	}
	expect("the retired key's token", old, 401, "invalid_token")
	expect("the new key's token", fresh, 200, "")

	before := p.Fetches()
	start := time.Now()
	_, rest, _ := strings.Cut(fresh, ".")
	n := 0
	for ; time.Since(start) < 1500*time.Millisecond; n++ {
		h := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"alg":"ES256","kid":"made-up-%d"}`, n))
		expect("a made-up kid", h+"."+rest, 401, "invalid_token")
	}
	elapsed := time.Since(start)
	if fetches, limit := p.Fetches()-before, int64(elapsed/(200*time.Millisecond))+int64(elapsed/time.Second)+2; fetches < 1 || fetches > limit {
		t.Fatalf("%d provider fetches in %s for %d made-up kids, want 1 to %d", fetches, elapsed, n, limit)
	}
	t.Logf("%d made-up kids in %s: %d provider fetches", n, elapsed.Round(time.Millisecond), p.Fetches()-before)
}
