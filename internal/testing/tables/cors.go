package tables

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/mint"
)

// CORSRequest is a cross-origin request against the example policy and
// the CORS response headers it must get: a value of "-" means the header
// must be absent. Status is 200 when the request goes upstream.
type CORSRequest struct {
	Name     string
	Method   string
	Host     string
	Path     string
	Headers  [][2]string
	Status   int
	Reason   string
	Response map[string]string // lower-case names
}

// CORSRequests builds the table (tokens minted at now).
func CORSRequests(cfg *config.Config, now time.Time) []CORSRequest {
	tok, err := mint.Token(cfg, "login", "", mint.Claims{Subject: "13000000001", Level: 1, TTL: time.Hour}, now)
	if err != nil {
		panic(err)
	}
	pre := func(origin, method, headers string) [][2]string {
		h := [][2]string{{"origin", origin}, {"access-control-request-method", method}}
		if headers != "" {
			h = append(h, [2]string{"access-control-request-headers", headers})
		}
		return h
	}
	none := map[string]string{"access-control-allow-origin": "-", "access-control-allow-methods": "-", "access-control-allow-credentials": "-"}
	return []CORSRequest{
		{"a preflight gets the rule's headers", "OPTIONS", "a.shop.example", "/admin/users", pre("https://m.shop.example", "POST", "Authorization"), 204, "preflight", map[string]string{
			"access-control-allow-origin": "https://m.shop.example", "access-control-allow-methods": "GET,HEAD,POST",
			"access-control-allow-headers": "authorization", "access-control-allow-credentials": "true", "access-control-max-age": "600"}},
		{"a preflight on a route that takes any method names the one asked for", "OPTIONS", "a.shop.example", "/auth", pre("https://shop.example", "PUT", ""), 204, "preflight", map[string]string{
			"access-control-allow-origin": "https://shop.example", "access-control-allow-methods": "PUT", "access-control-allow-headers": "-"}},
		{"a preflight under a route's own rule for any origin", "OPTIONS", "a.shop.example", "/health", pre("https://anywhere.example", "GET", ""), 204, "preflight", map[string]string{
			"access-control-allow-origin": "*", "access-control-allow-credentials": "-", "access-control-max-age": "-"}},
		{"a refused preflight gets no CORS headers", "OPTIONS", "a.shop.example", "/auth", pre("https://evil.example", "GET", ""), 403, "cors_not_allowed", none},
		{"an allowed cross-origin request", "GET", "a.shop.example", "/auth", [][2]string{{"origin", "https://shop.example"}, {"authorization", "Bearer " + tok}}, 200, "", map[string]string{
			"access-control-allow-origin": "https://shop.example", "access-control-allow-credentials": "true", "access-control-allow-methods": "-"}},
		{"the same request again, decided at once (its token's state is cached)", "GET", "a.shop.example", "/auth", [][2]string{{"origin", "https://shop.example"}, {"authorization", "Bearer " + tok}}, 200, "", map[string]string{
			"access-control-allow-origin": "https://shop.example", "access-control-allow-credentials": "true", "access-control-allow-methods": "-"}},
		{"a denied cross-origin request can be read by the page", "GET", "a.shop.example", "/auth", [][2]string{{"origin", "https://shop.example"}}, 401, "no_token", map[string]string{
			"access-control-allow-origin": "https://shop.example", "access-control-allow-credentials": "true", "www-authenticate": "Bearer"}},
		{"a request from another origin gets no CORS headers", "GET", "a.shop.example", "/auth", [][2]string{{"origin", "https://evil.example"}, {"authorization", "Bearer " + tok}}, 200, "", none},
		{"a same-origin request gets none", "GET", "a.shop.example", "/auth", [][2]string{{"authorization", "Bearer " + tok}}, 200, "", none},
	}
}

// CheckResponse compares received response headers with r.Response
// and returns what differs ("" when nothing).
func (r *CORSRequest) CheckResponse(get func(name string) (string, bool)) string {
	var diffs []string
	for _, name := range slices.Sorted(maps.Keys(r.Response)) {
		want := r.Response[name]
		got, ok := get(name)
		switch {
		case want == "-" && ok:
			diffs = append(diffs, name+": "+got+", want none")
		case want != "-" && got != want:
			diffs = append(diffs, name+": "+got+", want "+want)
		}
	}
	return strings.Join(diffs, "; ")
}

// CORSAnswer is what a target made of a CORSRequest: the status (200
// when the request went upstream), the reason of a refusal or an
// answered preflight, and a reader of the response's headers, names in
// any case (nil where the target cannot show them).
type CORSAnswer struct {
	Status int
	Reason string
	Header func(name string) (string, bool)
}

// RunCORS plays the table (tokens minted at now) through do, one subtest
// a request, comparing the status, the reason and the CORS headers.
func RunCORS(t *testing.T, cfg *config.Config, now time.Time, do func(t *testing.T, c CORSRequest) CORSAnswer) {
	for _, c := range CORSRequests(cfg, now) {
		t.Run(c.Name, func(t *testing.T) {
			a := do(t, c)
			if a.Status == 200 {
				a.Reason = ""
			}
			if a.Status != c.Status || a.Reason != c.Reason {
				t.Errorf("got %d %s, want %d %s", a.Status, a.Reason, c.Status, c.Reason)
			}
			if a.Header == nil {
				return
			}
			if diff := c.CheckResponse(a.Header); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// HeaderIn reads a header list, names in any case.
func HeaderIn(h [][2]string) func(name string) (string, bool) {
	return func(name string) (string, bool) {
		for _, kv := range h {
			if strings.EqualFold(kv[0], name) {
				return kv[1], true
			}
		}
		return "", false
	}
}
