package filter_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/state"
)

// remoteEngine is RemoteKeysPolicy's engine for gateway, on a clock the
// test moves.
func remoteEngine(t *testing.T, gateway string, now *time.Time) *filter.Engine {
	t.Helper()
	res := tables.CompileRemoteKeys(t, "https://idp.example", "k")
	res.Config.Gateway = gateway
	e, err := filter.New(res.Config, res.Table, func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type signer struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newSigner(t *testing.T, kid string) signer {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, priv}
}

func (s signer) token(t *testing.T, now time.Time) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://idp.example", "sub": "alice", "level": 1, "exp": now.Add(time.Hour).Unix()})
	tok.Header["kid"] = s.kid
	raw, err := tok.SignedString(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func keySet(t *testing.T, set string, signers ...signer) []byte {
	ks := state.KeySet{Version: state.KeySetVersion, Issuer: "idp", Set: set}
	for _, s := range signers {
		k, err := config.KeyFrom(s.kid, &s.priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		ks.Keys = append(ks.Keys, k)
	}
	data, _ := json.Marshal(ks)
	return data
}

func meReq(tok string) *filter.Request {
	return &filter.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: filter.HeaderList([][2]string{{"authorization", "Bearer " + tok}, {"host", "api.example"}})}
}

// TestKeyFetchDecisions: when the engine asks for keys, when requests
// wait for the fetch in flight, and what they get when they cannot.
func TestKeyFetchDecisions(t *testing.T) {
	now := fixedNow
	a, b := newSigner(t, "a"), newSigner(t, "b")
	bothGateways(t, func(t *testing.T, gateway string) {
		e := remoteEngine(t, gateway, &now)
		d := e.Decide(meReq(a.token(t, now)))
		if d.Keys == nil || !d.Keys.Send || d.Keys.Issuer != "idp" || d.Keys.Query() != "/v1/keys?issuer=idp&kid=a" {
			t.Fatalf("no keys yet: %+v", d.Keys)
		}
		d = e.Decide(meReq(a.token(t, now)))
		switch {
		case gateway == config.GatewayEnvoy && (d.Keys == nil || d.Keys.Send):
			t.Fatalf("Envoy: a second request waits for the fetch in flight: %+v %s", d.Keys, d.Reason)
		case gateway == config.GatewayKong && (d.Keys != nil || d.Status != 503 || d.Reason != filter.ReasonKeysUnavailable):
			t.Fatalf("Kong: a second request cannot wait: %+v %d %s", d.Keys, d.Status, d.Reason)
		}
		// A failed fetch slower than min_interval: the requests that
		// waited for it are refused, not sent again.
		now = now.Add(time.Second)
		if _, err := e.KeysArrived("idp", nil, errors.New("status 500")); err == nil {
			t.Fatal("a failed fetch is an error")
		}
		if d := e.Decide(meReq(a.token(t, now))); d.Keys != nil || d.Status != 503 || d.Reason != filter.ReasonKeysUnavailable {
			t.Fatalf("after a failed fetch: %+v %d %s", d.Keys, d.Status, d.Reason)
		}
		now = now.Add(250 * time.Millisecond)
		if d := e.Decide(meReq(a.token(t, now))); d.Keys == nil || !d.Keys.Send {
			t.Fatalf("after min_interval: %+v", d.Keys)
		}
		if changed, err := e.KeysArrived("idp", keySet(t, "s1", a), nil); !changed || err != nil {
			t.Fatalf("keys: %v %v", changed, err)
		}
		tokA := a.token(t, now)
		if d := e.Decide(meReq(tokA)); !d.Allow {
			t.Fatalf("with keys: %d %s", d.Status, d.Reason)
		}
		// The fetches while there were no keys spent no kid's
		// allowance: the first unknown kid is asked for at once, a
		// second within min_interval of it is refused.
		if d := e.Decide(meReq(b.token(t, now))); d.Keys == nil || !d.Keys.Send || d.Keys.Kid != "b" {
			t.Fatalf("the first unknown kid: %+v %d %s", d.Keys, d.Status, d.Reason)
		}
		e.KeysArrived("idp", keySet(t, "s1", a), nil)
		if d := e.Decide(meReq(b.token(t, now))); d.Status != 401 || d.Reason != filter.ReasonInvalidToken {
			t.Fatalf("unknown kid within min_interval: %+v %d %s", d.Keys, d.Status, d.Reason)
		}
		now = now.Add(250 * time.Millisecond)
		if d := e.Decide(meReq(b.token(t, now))); d.Keys == nil || !d.Keys.Send || d.Keys.Kid != "b" {
			t.Fatalf("unknown kid after min_interval: %+v", d.Keys)
		}
		e.KeysArrived("idp", keySet(t, "s2", b), nil)
		if d := e.Decide(meReq(b.token(t, now))); !d.Allow {
			t.Fatalf("the new key: %d %s", d.Status, d.Reason)
		}
		if d := e.Decide(meReq(tokA)); d.Status != 401 {
			t.Fatalf("a cached token of a key that left the set: %d %s", d.Status, d.Reason)
		}
		if due := e.KeysDue(); len(due) != 1 || due[0] != "login" {
			t.Fatalf("due: %v, want the issuer never fetched alone", due)
		}
		e.KeysArrived("login", []byte(`{"v":1,"issuer":"login","set":"l","keys":[{"kty":"oct","k":"`+strings.Repeat("A", 43)+`"}]}`), nil)
		if due := e.KeysDue(); len(due) != 0 {
			t.Fatalf("due right after the fetches: %v", due)
		}
		now = now.Add(1100 * time.Millisecond) // idp's PollMillis: min(refresh 1s, 1m); login's is 1m
		if due := e.KeysDue(); len(due) != 1 || due[0] != "idp" {
			t.Fatalf("due after idp's poll period: %v", due)
		}
		if _, err := e.KeysArrived("idp", []byte(`{"v":1,"issuer":"other","set":"x","keys":[]}`), nil); err == nil {
			t.Fatal("an answer for another issuer was taken")
		}
		if d := e.Decide(meReq(b.token(t, now))); !d.Allow {
			t.Fatalf("a bad answer keeps the keys: %d %s", d.Status, d.Reason)
		}
	})
}

// TestPollSpendsNoKidAllowance: a token naming a kid the keys lack, right
// after the periodic poll's answer, has its fetch sent at once.
func TestPollSpendsNoKidAllowance(t *testing.T) {
	now := fixedNow
	a, b := newSigner(t, "a"), newSigner(t, "b")
	bothGateways(t, func(t *testing.T, gateway string) {
		e := remoteEngine(t, gateway, &now)
		if due := e.KeysDue(); !slices.Contains(due, "idp") {
			t.Fatalf("the first poll: %v", due)
		}
		if _, err := e.KeysArrived("idp", keySet(t, "s1", a), nil); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Millisecond) // well within min_interval
		if d := e.Decide(meReq(b.token(t, now))); d.Keys == nil || !d.Keys.Send || d.Keys.Kid != "b" {
			t.Fatalf("a new kid right after the poll: %+v %d %s", d.Keys, d.Status, d.Reason)
		}
		if _, err := e.KeysArrived("idp", keySet(t, "s2", a, b), nil); err != nil {
			t.Fatal(err)
		}
		if d := e.Decide(meReq(b.token(t, now))); !d.Allow {
			t.Fatalf("with the new key: %d %s", d.Status, d.Reason)
		}
		c := newSigner(t, "c")
		if d := e.Decide(meReq(c.token(t, now))); d.Keys != nil || d.Status != 401 {
			t.Fatalf("a second unknown kid within min_interval: %+v %d %s", d.Keys, d.Status, d.Reason)
		}
	})
}

// TestPollEveryTick: with a poll period of one tick (refresh 1s), a
// poll whose answer comes some milliseconds after the tick that sent it
// is due again at the next tick, and a tick that comes a little early
// still finds it due: the period does not double.
func TestPollEveryTick(t *testing.T) {
	now := fixedNow
	a := newSigner(t, "a")
	e := remoteEngine(t, config.GatewayEnvoy, &now)
	polls := 0
	for tick := range 10 {
		if slices.Contains(e.KeysDue(), "idp") {
			polls++
			now = now.Add(30 * time.Millisecond) // the sidecar's answer
			if _, err := e.KeysArrived("idp", keySet(t, "s1", a), nil); err != nil {
				t.Fatal(err)
			}
			now = now.Add(-30 * time.Millisecond)
		}
		// Ticks about a second apart, some early, some late.
		now = now.Add(time.Second + time.Duration(tick%3-1)*20*time.Millisecond)
	}
	if polls != 10 {
		t.Errorf("%d polls in 10 ticks, want 10", polls)
	}
}
