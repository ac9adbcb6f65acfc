package kongtest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/tables"
)

// testSidecar runs the token-state scenarios through Kong's call-out to
// a real sidecar and Redis. Every step uses a token of its own, so no
// answer the filter cached (sessions.cache) for another step applies.
func (st *stack) testSidecar(t *testing.T) {
	n := 0
	fresh := func(subject string, level int) string {
		n++
		return st.token(t, subject, fmt.Sprintf("kong-sc-%d", n), level)
	}
	expect := func(t *testing.T, what, target string, headers [][2]string, status int, reason string) *Response {
		t.Helper()
		start := time.Now()
		r := st.get(t, "GET", "a.shop.example", target, headers)
		if r.Status != status || (status != 200 && r.Reason != reason) {
			t.Errorf("%s: got %d %s, want %d %s", what, r.Status, r.Reason, status, reason)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: answered after %v", what, d)
		}
		return r
	}

	// The shared token-state attacks, through Kong's call-out.
	target := func(method, host, path string, headers [][2]string) (policycases.Outcome, error) {
		return st.get(t, method, host, path, headers).Outcome(), nil
	}
	wait := func() { time.Sleep(1100 * time.Millisecond) } // sessions.cache is 1s
	for _, sc := range tables.StateScenarios(st.res.Config, "kong", time.Now()) {
		t.Run(sc.Name, func(t *testing.T) {
			if err := sc.Run(st.sc.Call, target, wait); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("revoked", func(t *testing.T) {
		tok := fresh("13000000041", 1)
		st.sc.Post(t, "/auth/login", `{"userId":"13000000041","token":"`+tok+`"}`)
		other := fresh("13000000041", 1)
		expect(t, "a token that was not revoked", "/auth", bearer(other), 200, "")
		st.sc.Post(t, "/auth/delToken", `{"token":"`+tok+`"}`)
		expect(t, "the revoked token", "/auth", bearer(tok), 401, "token_revoked")
	})

	t.Run("revoked, signature rewritten", func(t *testing.T) {
		key := filepath.Join(root, "testdata", "keys", "partner-es256.key.pem")
		tok, err := mint.Token(st.res.Config, "partner", key, mint.Claims{Subject: "p-kong-41", Level: 1}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		st.sc.Post(t, "/auth/delToken", `{"token":"`+tok+`","userId":"p-kong-41"}`)
		expect(t, "the revoked partner token", "/auth", bearer(tok), 401, "token_revoked")
		expect(t, "its ECDSA signature as (r, n-s)", "/auth", bearer(tables.MalleateECDSA(tok)), 401, "token_revoked")
		for seg := range 3 {
			if sb, ok := tables.SpareBits(tok, seg); ok {
				expect(t, fmt.Sprintf("spare base64url bits in segment %d", seg), "/auth", bearer(sb), 401, "invalid_token")
			}
		}
	})

	t.Run("conflict", func(t *testing.T) {
		old := fresh("13000000042", 2)
		st.sc.Post(t, "/auth/login", `{"userId":"13000000042","token":"`+old+`","single":true}`)
		newer := fresh("13000000042", 2)
		st.sc.Post(t, "/auth/login", `{"userId":"13000000042","token":"`+newer+`","single":true}`)
		r := expect(t, "the superseded token", "/admin/x", bearer(old), 401, "token_conflict")
		if got := r.Header.Get("Www-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
		expect(t, "the newer token", "/admin/x", bearer(newer), 200, "")
	})

	t.Run("disabled user", func(t *testing.T) {
		st.sc.Post(t, "/user/roles", `{"userId":"13000000043","status":"0","statusDesc":"locked"}`)
		expect(t, "a disabled user", "/auth", bearer(fresh("13000000043", 1)), 403, "user_disabled")
	})

	t.Run("opaque token", func(t *testing.T) {
		st.sc.Post(t, "/user/roles", `{"userId":"u-kong","roles":[{"roleId":"support","perms":[]}],"type":"2","status":"1","level":1}`)
		tok := st.sc.PostData(t, "/auth/getToken", `{"userId":"u-kong","param":{"timeout":"600"}}`)
		r := expect(t, "an opaque token", "/tickets/5", [][2]string{{"X-Auth-Token", tok}}, 200, "")
		if r.Echo == nil {
			t.Fatal("no upstream answer")
		}
		if v, _ := r.Echo.Header("x-auth-phone"); v != "u-kong" {
			t.Errorf("x-auth-phone upstream = %q", v)
		}
		if v, _ := r.Echo.Header("x-auth-roles"); v != "support" {
			t.Errorf("x-auth-roles upstream = %q", v)
		}
		expect(t, "an unknown opaque token", "/auth", [][2]string{{"X-Auth-Token", "0123456789abcdef0123456789abcdef"}}, 401, "invalid_token")
	})

	t.Run("sidecar faults", func(t *testing.T) {
		faults := &tables.SidecarFaultsOf{T: t, Sidecar: st.sc, SetSlow: func(on bool) {
			st.fwd.Delay(0)
			if on {
				st.fwd.Delay(time.Second) // the call-out's timeout is 200ms
			}
		}}
		tables.RunSidecarFaults(t, st.res.Config, "kong-fault", target, faults, 3*time.Second)
	})
}
