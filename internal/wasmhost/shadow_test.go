package wasmhost_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/testing/tables"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// TestShadowMode runs shadowed and enforced denials through the module:
// a shadowed one passes with the caller's identity and the would-be
// decision in the shadow header, is logged as one structured line and
// counted; an enforced one is answered; a bad path is never shadowed.
func TestShadowMode(t *testing.T) {
	res := tables.ShadowPolicy(t, filepath.Join("..", ".."))
	vm, _ := stackVM(t, res) // a real sidecar and Redis behind the call-out
	tok, err := mint.Token(res.Config, "login", "", mint.Claims{Subject: "13000000001", Level: 1, JTI: "sh1"}, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	level1 := [][2]string{{"authorization", "Bearer " + tok}}
	ctx := context.Background()
	do := func(host, path string, h [][2]string) *wasmhost.Result {
		t.Helper()
		r, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: host, Path: path, Headers: h})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := do("a.shop.example", "/admin/users", level1)
	if !r.Allowed() || strings.Join(r.Header("x-keycard-shadow"), ",") != "403 insufficient_level" || strings.Join(r.Header("x-auth-level"), ",") != "1" {
		t.Errorf("a shadowed denial: %+v %v", r.Response, r.Headers)
	}
	line := ""
	for _, l := range vm.Logs() {
		if strings.Contains(l.Message, "shadow-deny") {
			line = l.Message
		}
	}
	if !strings.HasPrefix(line, "keycard: shadow-deny policy=shop table=") || !strings.Contains(line, " status=403 reason=insufficient_level service=service_a route=/admin/** subject=sha256:") || strings.Contains(line, tok) {
		t.Errorf("log line %q", line)
	}
	if n, ok := vm.Metric("keycard.requests.shadow_denied.insufficient_level"); !ok || n != 1 {
		t.Errorf("shadow_denied counter = %d, %v", n, ok)
	}
	if r := do("a.shop.example", "/auth", nil); r.Allowed() || r.Response.Status != 401 {
		t.Errorf("an enforced route: %+v", r)
	}
	if r := do("b.shop.example", "/nowhere", nil); !r.Allowed() || strings.Join(r.Header("x-keycard-shadow"), ",") != "404 no_route" {
		t.Errorf("a service in shadow mode, no route: %+v %v", r.Response, r.Headers)
	}
	if r := do("b.shop.example", "/a/%2e%2e/admin", nil); r.Allowed() || r.Response.Status != 400 {
		t.Errorf("a bad path in a shadowed service: %+v", r)
	}
}
