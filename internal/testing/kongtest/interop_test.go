package kongtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/internal/testing/interop"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
)

// TestJoseInKong: every token jose minted is decided in the real Kong
// host as jose.jwtVerify decides it, with the keys held both ways (the
// same table internal/testing/interop runs natively and in wazero).
func TestJoseInKong(t *testing.T) {
	nginx := host(t)
	j := interop.MintJose(t, interop.Node(t))
	module := buildModule(t)
	echo := strings.TrimPrefix(StartEcho(t).URL, "http://")
	checked := 0
	// One algorithm family at a time: this harness writes the filter's
	// configuration into nginx.conf, whose parameters nginx bounds at 4
	// KB (Kong hands it over from Lua, unbounded).
	for _, form := range []string{interop.FormJWKS, interop.FormPEM} {
		for _, family := range interop.Families {
			res, err := compiler.CompileFiles([]string{j.Policy(t, t.TempDir(), form, family)}, compiler.Settings{})
			if err != nil {
				t.Fatal(err)
			}
			gw := Start(t, nginx, Conf{Files: kongFiles(t, res, module, "127.0.0.1:9"), Module: module, Upstream: echo})
			for _, tok := range j.Tokens {
				if !slices.Contains(family, tok.Alg) {
					continue
				}
				status, reason := tok.Want(form)
				r, err := raw(gw.Ports.ProxyAddr(), "GET", "api.example", "/me", bearer(tok.Token), nil, "")
				if err != nil {
					t.Fatal(err)
				}
				sub := ""
				if r.Echo != nil {
					sub, _ = r.Echo.Header("x-auth-sub")
				}
				if r.Status != status || status != 200 && r.Reason != reason || status == 200 && sub != tok.Subject() {
					t.Errorf("keys as %s, %s %s: got %d %s sub=%q, want %d %s sub=%q (jose: %s / %s)", form, tok.Alg, tok.Name, r.Status, r.Reason, sub, status, reason, tok.Subject(), tok.JoseKey, tok.JoseJWKS)
				}
				checked++
			}
		}
	}
	t.Logf("%d jose tokens decided in Kong as jose.jwtVerify decides them", checked)
}

// TestOIDCProviderInKong: oidc-provider's access tokens through the real
// Kong host with a real sidecar fetching the provider's keys over https:
// RS256 and ES256 tokens of two issuers sharing the key set, a 10 KB
// token (render sizes nginx's header buffers for it), a rotated key's
// token and a retired key's.
func TestOIDCProviderInKong(t *testing.T) {
	nginx := host(t)
	node := interop.Node(t)
	conf := interop.OIDCProvider(t)
	p := interop.StartProvider(t, node, conf)
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	os.WriteFile(file, []byte(interop.OIDCPolicy(p.Issuer)), 0o644)
	res, err := compiler.CompileFiles([]string{file}, compiler.Settings{SidecarKey: sidecartest.GatewayKey})
	if err != nil {
		t.Fatal(err)
	}
	sc := sidecartest.StartHolding(t, res.Config, p.Client, nil)
	module := buildModule(t)
	echo := strings.TrimPrefix(StartEcho(t).URL, "http://")
	gw := Start(t, nginx, Conf{Files: kongFiles(t, res, module, strings.TrimPrefix(sc.URL, "http://")), Module: module, Upstream: echo})
	send := func(path, tok string) *Response {
		t.Helper()
		r, err := raw(gw.Ports.ProxyAddr(), "GET", "api.example", path, bearer(tok), nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	expect := func(what, path, tok string, status int, reason, issuer string) {
		t.Helper()
		r := send(path, tok)
		if r.Status != status || status != 200 && r.Reason != reason {
			t.Fatalf("%s: %d %s, want %d %s\n%s", what, r.Status, r.Reason, status, reason, tail(gw.ErrorLog()))
		}
		if status == 200 {
			sub, _ := r.Echo.Header("x-auth-sub")
			is, _ := r.Echo.Header("x-auth-issuer")
			if sub != interop.ClientID || is != issuer {
				t.Fatalf("%s: upstream got sub %q issuer %q, want %q %q", what, sub, is, interop.ClientID, issuer)
			}
		}
	}
	orders, large := p.Token(interop.OrdersResource), p.Token(interop.LargeResource)
	expect("RS256 token of orders (the first request fetches the keys)", "/orders", orders, 200, "", "orders")
	expect("ES256 token of billing, on the key set orders shares", "/billing", p.Token(interop.BillingResource), 200, "", "billing")
	expect(fmt.Sprintf("a token of %d bytes", len(large)), "/orders", large, 200, "", "orders")
	expect("the scope the provider granted", "/scoped", orders, 200, "", "orders")
	expect("a scope it did not grant", "/admin-scoped", orders, 403, "insufficient_scope", "")

	rotated := conf
	rotated.Keys = append([]interop.Key{interop.NewKey(t, "rsa-2", "RS256")}, conf.Keys...)
	p.Restart(rotated)
	fresh := p.Token(interop.OrdersResource)
	// The request that meets the new kid fetches the keys and waits for
	// them; only a poll of its worker in flight at that instant (a few
	// milliseconds a second) makes it decide with the keys at hand.
	deadline := time.Now().Add(time.Second)
	for r := send("/orders", fresh); r.Status != 200; r = send("/orders", fresh) {
		if time.Now().After(deadline) {
			t.Fatalf("the rotated key's token: %d %s a second after the provider published the key\n%s", r.Status, r.Reason, tail(gw.ErrorLog()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	expect("the old key's token while it is published", "/orders", orders, 200, "", "orders")

	retired := conf
	retired.Keys = append([]interop.Key{rotated.Keys[0]}, conf.Keys[1:]...)
	p.Restart(retired)
	deadline = time.Now().Add(8 * time.Second)
	for send("/orders", orders).Status != 401 {
		if time.Now().After(deadline) {
			t.Fatalf("the retired key's token still passes 8s after the provider retired it\n%s", tail(gw.ErrorLog()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	expect("the retired key's token", "/orders", orders, 401, "invalid_token", "")
	expect("the new key's token", "/orders", fresh, 200, "", "orders")
}
