package devgw

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/sidecar"
	"github.com/keycard-gw/keycard/state"
)

// Scenario is one demo request and what the gateway answers.
type Scenario struct {
	Name    string
	Method  string
	Host    string
	Path    string
	Headers [][2]string
	Status  int
	Reason  string // "" for allowed requests
}

// Curl renders the scenario as a ready-to-paste curl line.
func (s Scenario) Curl(gateway string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "curl -s -o /dev/null -w '%%{http_code}\\n' -H 'Host: %s'", s.Host)
	for _, h := range s.Headers {
		fmt.Fprintf(&b, " -H '%s: %s'", h[0], h[1])
	}
	if s.Method != "GET" {
		fmt.Fprintf(&b, " -X %s", s.Method)
	}
	fmt.Fprintf(&b, " http://%s%s", gateway, s.Path)
	return b.String()
}

// Demo prepares the example policy's demo: fresh tokens, one revoked, one
// superseded by a newer single-session login, an opaque token, and the
// requests that show 200, 401 and 403. It needs the example policy (the
// HS256 issuer "login", levels 0/1/2, service_a on a.shop.example).
func (g *Gateway) Demo(ctx context.Context) ([]Scenario, error) {
	cfg := g.Result.Config
	svc := cfg.Policy
	now := time.Now()
	token := func(sub string, level int) (string, error) {
		return mint.Token(cfg, "login", "", mint.Claims{Subject: sub, Level: level, JTI: mint.RandomID(), TTL: 2 * time.Hour}, now)
	}
	name := func(tok string) (state.Name, time.Time) {
		n, exp, _ := sidecar.NameToken(svc, tok, cfg.Identity.Claims.Subject)
		return n, exp
	}
	login := func(sub, tok string, single bool) error {
		n, exp := name(tok)
		return g.Store.Issue(ctx, n, sub, exp, false, single)
	}
	revoke := func(sub, tok string) error {
		n, exp := name(tok)
		_, err := g.Store.Revoke(ctx, n, sub, exp)
		return err
	}
	opaque, _ := name("0123456789abcdef0123456789abcdef")
	user, err := token("13000000001", 1)
	if err != nil {
		return nil, err
	}
	admin, _ := token("13000000002", 2)
	revoked, _ := token("13000000003", 1)
	older, _ := token("13000000004", 1)
	newer, _ := token("13000000004", 1)
	for _, step := range []error{
		login("13000000001", user, false),
		login("13000000002", admin, false),
		login("13000000003", revoked, false),
		revoke("13000000003", revoked),
		login("13000000004", older, true),
		login("13000000004", newer, true), // the older token is now "Token Conflict"
		g.Store.SetUser(ctx, svc, "legacy-user", &sidecar.UserDoc{Roles: []sidecar.RoleDoc{{RoleID: "support"}}, Type: "2", Status: "1", Level: 1}),
		g.Store.Issue(ctx, opaque, "legacy-user", now.Add(2*time.Hour), true, false),
	} {
		if step != nil {
			return nil, step
		}
	}
	bearer := func(tok string) [][2]string { return [][2]string{{"Authorization", "Bearer " + tok}} }
	var remote []Scenario
	for _, name := range slices.Sorted(maps.Keys(g.Providers)) {
		tok, err := g.Providers[name].Sign(jwt.MapClaims{cfg.Identity.Claims.Subject: "13000000005", cfg.Identity.Claims.Level: 1, "exp": now.Add(2 * time.Hour).Unix()})
		if err != nil {
			return nil, err
		}
		remote = append(remote, Scenario{"level 1 with a token of the OpenID provider " + name + " (keys the sidecar fetched through discovery)", "GET", "a.shop.example", "/auth", bearer(tok), 200, ""})
	}
	return append([]Scenario{
		{"level 0, no token", "GET", "a.shop.example", "/", nil, 200, ""},
		{"level 1 with a user token", "GET", "a.shop.example", "/auth", bearer(user), 200, ""},
		{"same service by path prefix", "GET", "api.shop.example", "/a/auth", bearer(user), 200, ""},
		{"level 2 with an admin token", "GET", "b.shop.example", "/admin/stats", bearer(admin), 200, ""},
		{"seed 002 opaque token", "GET", "a.shop.example", "/auth", [][2]string{{"X-Auth-Token", "0123456789abcdef0123456789abcdef"}}, 200, ""},
		{"no token", "GET", "a.shop.example", "/auth", nil, 401, "no_token"},
		{"bad token", "GET", "a.shop.example", "/auth", bearer(user[:len(user)-4] + "AAAA"), 401, "invalid_token"},
		{"revoked token", "GET", "a.shop.example", "/auth", bearer(revoked), 401, "token_revoked"},
		{"Token Conflict: superseded by a newer login", "GET", "a.shop.example", "/auth", bearer(older), 401, "token_conflict"},
		{"the newer login", "GET", "a.shop.example", "/auth", bearer(newer), 200, ""},
		{"level 1 on /admin", "GET", "a.shop.example", "/admin/users", bearer(user), 403, "insufficient_level"},
		{"ambiguous path", "GET", "a.shop.example", "/admin%2F..", bearer(admin), 400, "bad_request"},
		{"a CORS preflight from the shop's site, answered by the filter", "OPTIONS", "a.shop.example", "/auth", [][2]string{{"Origin", "https://shop.example"}, {"Access-Control-Request-Method", "GET"}, {"Access-Control-Request-Headers", "authorization"}}, 204, ""},
		{"a CORS preflight from another site", "OPTIONS", "a.shop.example", "/auth", [][2]string{{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}}, 403, "cors_not_allowed"},
	}, remote...), nil
}

// RotationCommands are curl lines that rotate a dev provider's key
// (retiring the old one) and sign a token with the new key: the filter
// picks the new key up on the first token that names it, and refuses
// the old key's tokens once the sidecar's refresh no longer finds it.
func (g *Gateway) RotationCommands(issuer string) []string {
	p, ok := g.Providers[issuer]
	if !ok {
		return nil
	}
	claims := fmt.Sprintf(`{"%s":"13000000005","%s":1}`, g.Result.Config.Identity.Claims.Subject, g.Result.Config.Identity.Claims.Level)
	return []string{
		fmt.Sprintf("curl -s --cacert %s -H 'X-Admin-Key: %s' -X POST '%s/rotate?retire=1'", g.CertFile, g.AdminKey, p.URL),
		fmt.Sprintf("TOKEN=$(curl -s --cacert %s -H 'X-Admin-Key: %s' '%s/token?raw=1' -d '%s')", g.CertFile, g.AdminKey, p.URL, claims),
		fmt.Sprintf("curl -s -o /dev/null -w '%%{http_code}\\n' -H 'Host: a.shop.example' -H \"Authorization: Bearer $TOKEN\" http://%s/auth", g.Addr),
	}
}

// Check sends each scenario through the gateway, as its curl line would,
// and returns those whose status is not the one the scenario claims: the
// demo's lines are printed only when they hold for the policy running.
func (g *Gateway) Check(scenarios []Scenario) []string {
	var wrong []string
	for _, s := range scenarios {
		req := httptest.NewRequest(s.Method, s.Path, nil)
		req.Host = s.Host
		for _, h := range s.Headers {
			req.Header.Add(h[0], h[1])
		}
		rec := httptest.NewRecorder()
		g.handle(rec, req)
		if rec.Code != s.Status {
			wrong = append(wrong, fmt.Sprintf("%s: %d, not %d", s.Name, rec.Code, s.Status))
		}
	}
	return wrong
}
