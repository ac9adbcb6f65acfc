package keyset_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/sidecar/keyset"
)

func startProvider(t *testing.T) *idp.Provider {
	t.Helper()
	p, err := idp.Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func newSets(t *testing.T, p *idp.Provider, r config.Remote) *keyset.Sets {
	t.Helper()
	src := keyset.Source{Issuer: "idp", Remote: r, Algorithms: []string{"ES256"}}
	return keyset.New([]keyset.Source{src}, p.Client(), time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func oidc(p *idp.Provider, minInterval time.Duration) config.Remote {
	return config.Remote{OIDCIssuer: p.URL, RefreshMillis: 600000, MinIntervalMillis: int(minInterval / time.Millisecond), TimeoutMillis: 300}
}

// get asks for the set naming kid, so the set is fetched when it lacks it.
func get(t *testing.T, s *keyset.Sets, kid string) []config.Key {
	t.Helper()
	ks, err := s.Get(context.Background(), "idp", kid)
	if err != nil {
		t.Fatalf("Get(%q): %v", kid, err)
	}
	return ks.Keys
}

func kids(keys []config.Key) string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	return strings.Join(out, ",")
}

func metric(s *keyset.Sets, line string) bool {
	var b strings.Builder
	s.WriteMetrics(&b)
	return strings.Contains(b.String(), line+"\n")
}

func TestDiscoveryAndRotation(t *testing.T) {
	p := startProvider(t)
	s := newSets(t, p, oidc(p, 50*time.Millisecond))
	if ok, missing := s.Ready(); ok || len(missing) != 1 {
		t.Fatalf("Ready before a fetch: %v %v", ok, missing)
	}
	first := p.Kid()
	// With no set yet, a Get fetches one. The encryption key the
	// provider also publishes is left out.
	if got := kids(get(t, s, "")); got != first {
		t.Fatalf("keys %q, want %q", got, first)
	}
	if !metric(s, `keycard_sidecar_keys_left_out_total{issuer="idp"} 1`) || !metric(s, `keycard_sidecar_key_fetches_total{issuer="idp",outcome="ok"} 1`) {
		t.Error("metrics do not count the fetch and the left-out key")
	}
	second, _ := p.Rotate()
	time.Sleep(60 * time.Millisecond)
	if got := kids(get(t, s, second)); got != second+","+first {
		t.Fatalf("after rotation: %q", got)
	}
	p.Retire()
	third, _ := p.Rotate()
	time.Sleep(60 * time.Millisecond)
	if got := kids(get(t, s, third)); got != third+","+second {
		t.Fatalf("after retiring: %q", got)
	}
	if ok, _ := s.Ready(); !ok {
		t.Error("not ready with keys")
	}
}

// TestUnknownKidFlood: made-up kids cost the provider at most one fetch
// per min_interval.
func TestUnknownKidFlood(t *testing.T) {
	p := startProvider(t)
	const interval = 200 * time.Millisecond
	s := newSets(t, p, oidc(p, interval))
	get(t, s, p.Kid())
	time.Sleep(interval)
	before := p.Fetches()
	start := time.Now()
	// Spread over about four intervals, so that more than one fetch is
	// allowed and the bound is tested, not just the first refusal.
	for i := range 10000 {
		if _, err := s.Get(context.Background(), "idp", fmt.Sprintf("made-up-%d", i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(8 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	fetches := p.Fetches() - before
	if limit := int64(elapsed/interval) + 1; fetches < 2 || fetches > limit {
		t.Fatalf("%d fetches in %s for 10000 unknown kids, want 2 to %d", fetches, elapsed, limit)
	}
	t.Logf("10000 unknown kids in %s: %d fetches", elapsed.Round(time.Millisecond), fetches)
}

// TestFaultsKeepLastGood: every way the provider fails leaves the last
// good keys in use and is counted.
func TestFaultsKeepLastGood(t *testing.T) {
	for _, tc := range tables.ProviderFaults {
		t.Run(tc.Name, func(t *testing.T) {
			p := startProvider(t)
			p.SlowBy = time.Second
			r := oidc(p, 20*time.Millisecond)
			r.OIDCIssuer, r.JWKSURL = "", p.JWKSURL()
			s := newSets(t, p, r)
			good := p.Kid()
			get(t, s, good)
			p.SetFault(tc.Fault)
			time.Sleep(30 * time.Millisecond)
			if got := kids(get(t, s, "new-kid")); got != good {
				t.Fatalf("keys %q after a failed fetch, want the last good %q", got, good)
			}
			if !metric(s, fmt.Sprintf(`keycard_sidecar_key_fetches_total{issuer="idp",outcome=%q} 1`, tc.Outcome)) {
				var b strings.Builder
				s.WriteMetrics(&b)
				t.Fatalf("outcome %s not counted:\n%s", tc.Outcome, b.String())
			}
		})
	}
}

// TestNoGoodSetYet: a provider that fails from the start gives no keys,
// with its reason.
func TestNoGoodSetYet(t *testing.T) {
	p := startProvider(t)
	p.SetFault(idp.Status500)
	s := newSets(t, p, oidc(p, 20*time.Millisecond))
	_, err := s.Get(context.Background(), "idp", "some-kid")
	if !errors.Is(err, keyset.ErrNoKeys) || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("err %v, want no keys with the reason", err)
	}
	if _, err := s.Get(context.Background(), "nope", ""); !errors.Is(err, keyset.ErrUnknownIssuer) {
		t.Fatalf("unknown issuer: %v", err)
	}
}

// TestRunRefreshes: Run fetches at start and again when the set is due
// (the provider's max-age is clamped to refresh).
func TestRunRefreshes(t *testing.T) {
	p := startProvider(t)
	r := oidc(p, 100*time.Millisecond)
	r.RefreshMillis = 300
	s := newSets(t, p, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for p.Fetches() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p.Fetches() < 3 {
		t.Fatalf("%d fetches in 5s with refresh 300ms", p.Fetches())
	}
	if got := kids(get(t, s, "")); got != p.Kid() {
		t.Fatalf("keys %q", got)
	}
}

// TestRuntimeSecret: a run-time secret is served as an oct key, and
// Sources refuses one too short for the algorithm.
func TestRuntimeSecret(t *testing.T) {
	cfg := &config.Config{Identity: config.Identity{Issuers: []config.Issuer{{Name: "login", Kind: config.KindJWT, Algorithms: []string{"HS256"},
		Remote: &config.Remote{Secret: "LOGIN", RefreshMillis: 1000, MinIntervalMillis: 100, TimeoutMillis: 100}}}}}
	secret := strings.Repeat("s", 32)
	srcs, err := keyset.Sources(cfg, func(name string) ([]byte, error) { return []byte(secret), nil })
	if err != nil {
		t.Fatal(err)
	}
	s := keyset.New(srcs, nil, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ks, err := s.Get(context.Background(), "login", "")
	if err != nil || len(ks.Keys) != 1 || ks.Keys[0].Kty != "oct" {
		t.Fatalf("%+v %v", ks, err)
	}
	_, err = keyset.Sources(cfg, func(string) ([]byte, error) { return []byte("short"), nil })
	if want := "issuer login: run-time secret LOGIN is 5 bytes; HS256 needs at least 32"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// TestCacheHeaders: an unchanged set costs the provider a 304 (the ETag
// is sent back), and a max-age shorter than refresh brings the next
// fetch forward.
func TestCacheHeaders(t *testing.T) {
	p := startProvider(t)
	p.SetCacheControl("max-age=1")
	r := oidc(p, 100*time.Millisecond)
	r.RefreshMillis = 3600000
	s := newSets(t, p, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for p.NotModified() < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p.NotModified() < 1 {
		t.Fatalf("no revalidation within 5s with max-age=1 (refresh 1h): %d fetches", p.Fetches())
	}
	if metric(s, `keycard_sidecar_key_fetches_total{issuer="idp",outcome="not_modified"} 0`) {
		var b strings.Builder
		s.WriteMetrics(&b)
		t.Errorf("304s not counted:\n%s", b.String())
	}
	if got := kids(get(t, s, "")); got != p.Kid() {
		t.Fatalf("keys after a 304: %q", got)
	}
}

// TestRotationRightAfterAFetch: a key rotated in just after the set was
// fetched (at start, or by the periodic refresh) is fetched for at once
// when a token names it; the periodic fetch spends no kid's allowance.
func TestRotationRightAfterAFetch(t *testing.T) {
	p := startProvider(t)
	s := newSets(t, p, oidc(p, time.Hour))
	get(t, s, "") // the first fetch
	newKid, err := p.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(get(t, s, newKid)); !strings.Contains(got, newKid) {
		t.Fatalf("right after a fetch, a token's new kid %s: keys %q", newKid, got)
	}
	before := p.Fetches()
	get(t, s, "made-up")
	if p.Fetches() != before {
		t.Errorf("a second unknown kid within min_interval fetched again")
	}
}

// TestDiscoveryIssuerExact: the discovery document's issuer must be the
// policy's oidc.issuer exactly (OpenID Connect Discovery 1.0 section
// 4.3), a trailing slash included, because it is what tokens carry as
// iss: a policy spelled otherwise gets a failed fetch that says what to
// write, not keys for tokens its iss check would refuse one by one.
func TestDiscoveryIssuerExact(t *testing.T) {
	p := startProvider(t)
	p.TrailingSlash = true
	s := newSets(t, p, oidc(p, 20*time.Millisecond)) // the policy spells it without the slash
	_, err := s.Get(context.Background(), "idp", "")
	want := fmt.Sprintf(`no keys yet: %s/.well-known/openid-configuration: the provider's issuer is "%s/", not the policy's "%s": its tokens carry "%s/" as iss; write oidc.issuer exactly so`, p.URL, p.URL, p.URL, p.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("err %v\nwant %s", err, want)
	}
	if !metric(s, `keycard_sidecar_key_fetches_total{issuer="idp",outcome="discovery"} 1`) {
		t.Error("the refused discovery is not counted")
	}
	r := oidc(p, 20*time.Millisecond)
	r.OIDCIssuer = p.Issuer()
	s = newSets(t, p, r)
	if got := kids(get(t, s, "")); got != p.Kid() {
		t.Errorf("keys %q with the issuer spelled as the provider does", got)
	}
}
