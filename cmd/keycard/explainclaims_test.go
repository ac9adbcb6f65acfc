package main

import (
	"strings"
	"testing"
)

// TestExplainScopesAndClaims: explain decides as a token granting the
// scopes and carrying the claims given, and says which condition fails.
func TestExplainScopesAndClaims(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"GET", "b.shop.example", "/tenants/42/orders", "--level", "1", "--claim", "tenant_id=43"}, 0, "decision  403 condition_failed (condition tenant_id is {tenant} does not hold)\n"},
		{[]string{"GET", "b.shop.example", "/tenants/42/orders", "--level", "1", "--claim", "tenant_id=42"}, 0, "decision  200 ok\n"},
		{[]string{"GET", "b.shop.example", "/exports", "--level", "1", "--scopes", "exports:read"}, 0, "scopes    exports:read\n"},
		{[]string{"GET", "b.shop.example", "/exports", "--level", "1"}, 0, `decision  403 insufficient_scope (the route needs scopes exports:read)` + "\n"},
	} {
		code, out, errs := runCLI(t, append([]string{"explain", "../../policies"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %d %q %q, want %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
	if code, _, errs := runCLI(t, "explain", "../../policies", "GET", "b.shop.example", "/exports", "--claim", "nothing=1"); code != 2 || errs != "keycard explain: --claim nothing: no condition or forwarded header of the policy reads it\n" {
		t.Errorf("an unread claim: %d %q", code, errs)
	}
}
