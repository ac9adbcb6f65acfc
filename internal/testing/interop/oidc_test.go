package interop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/devgw"
	"github.com/keycard-gw/keycard/internal/testing/interop"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// oidcStack is the module in wazero with a real sidecar fetching keys
// from oidc-provider.
type oidcStack struct {
	t  *testing.T
	vm *wasmhost.VM
}

func newOIDCStack(t *testing.T, p *interop.Provider, issuer string, flavor string) (*oidcStack, *sidecartest.Sidecar) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	os.WriteFile(file, []byte(interop.OIDCPolicy(issuer)), 0o644)
	res, err := compiler.CompileFiles([]string{file}, compiler.Settings{SidecarKey: sidecartest.GatewayKey})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %v", res.Warnings) // two issuers on one key set, told apart by audience
	}
	sc := sidecartest.StartHolding(t, res.Config, p.Client, nil)
	cfg, conf := wasmtest.Config(t, res.Config, flavor, sc.URL)
	module := wasmtest.Module(t, "../../..")
	vm := wasmtest.VM(t, module, wasmhost.Options{Gateway: flavor, Now: time.Now,
		Caller: wasmhost.HTTPCaller(http.DefaultClient, map[string]string{cfg.Sidecar.Upstream: sc.URL})}, conf)
	return &oidcStack{t: t, vm: vm}, sc
}

// do sends GET api.example/path with tok and returns the status, the
// reason and the forwarded X-Auth-Sub and X-Auth-Issuer.
func (s *oidcStack) do(path, tok string) (int, string, string, string) {
	s.t.Helper()
	r, err := s.vm.Do(context.Background(), wasmhost.Request{Method: "GET", Authority: "api.example", Path: path, Headers: [][2]string{{"authorization", "Bearer " + tok}}})
	if err != nil {
		s.t.Fatal(err)
	}
	if r.Response != nil {
		var body struct {
			Reason string `json:"reason"`
		}
		json.Unmarshal(r.Response.Body, &body)
		return r.Response.Status, body.Reason, "", ""
	}
	first := func(name string) string {
		if v := r.Header(name); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return 200, "", first("x-auth-sub"), first("x-auth-issuer")
}

func (s *oidcStack) expect(what, path, tok string, status int, reason, issuer string) {
	s.t.Helper()
	got, why, sub, is := s.do(path, tok)
	if got != status || status != 200 && why != reason || status == 200 && (sub != interop.ClientID || is != issuer) {
		s.t.Fatalf("%s: %d %s sub=%q issuer=%q, want %d %s issuer=%q", what, got, why, sub, is, status, reason, issuer)
	}
}

func kid(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	data, _ := base64.RawURLEncoding.DecodeString(h)
	var header struct {
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	json.Unmarshal(data, &header)
	return header.Kid + " " + header.Typ
}

// TestOIDCProvider runs the module (both flavours of the model) with a
// real sidecar against oidc-provider over https: discovery, RS256 and
// ES256 access tokens of two issuers that share the provider's keys, a
// 10 KB token, rotation (a new key first, then the old one retired)
// with the rotated token passing on its first request, and a provider
// whose issuer ends in a slash.
func TestOIDCProvider(t *testing.T) {
	node := interop.Node(t)
	conf := interop.OIDCProvider(t)
	p := interop.StartProvider(t, node, conf)
	for name, flavor := range map[string]string{"envoy": config.GatewayEnvoy, "kong": config.GatewayKong} {
		t.Run(name, func(t *testing.T) {
			p.Restart(conf)
			s, _ := newOIDCStack(t, p, p.Issuer, flavor)
			orders, billing, large := p.Token(interop.OrdersResource), p.Token(interop.BillingResource), p.Token(interop.LargeResource)
			if kid(orders) != "rsa-1 at+jwt" || kid(billing) != "ec-1 at+jwt" || len(large) < 10000 {
				t.Fatalf("the provider's tokens: %s, %s, %d bytes", kid(orders), kid(billing), len(large))
			}
			s.expect("RS256 token of orders", "/orders", orders, 200, "", "orders")
			s.expect("ES256 token of billing, on the key set orders shares", "/billing", billing, 200, "", "billing")
			s.expect(fmt.Sprintf("a %d-byte token", len(large)), "/orders", large, 200, "", "orders")
			s.expect("the scope the provider granted", "/scoped", orders, 200, "", "orders")
			s.expect("a scope it did not grant", "/admin-scoped", orders, 403, "insufficient_scope", "")

			// Rotation: the periodic poll has just spent its allowance,
			// and the new key is published first.
			if _, err := s.vm.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
			rotated := conf
			rotated.Keys = append([]interop.Key{interop.NewKey(t, "rsa-2", "RS256")}, conf.Keys...)
			p.Restart(rotated)
			fresh := p.Token(interop.OrdersResource)
			if kid(fresh) != "rsa-2 at+jwt" {
				t.Fatalf("after rotation the provider signs with %s", kid(fresh))
			}
			s.expect("the rotated key's token, first request", "/orders", fresh, 200, "", "orders")
			s.expect("the old key's token while it is published", "/orders", orders, 200, "", "orders")

			retired := conf
			retired.Keys = append([]interop.Key{rotated.Keys[0]}, conf.Keys[1:]...)
			p.Restart(retired)
			deadline := time.Now().Add(8 * time.Second)
			for {
				if status, _, _, _ := s.do("/orders", orders); status == 401 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the retired key's token still passes 8s after the provider retired it")
				}
				if _, err := s.vm.Tick(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(250 * time.Millisecond)
			}
			s.expect("the retired key's token", "/orders", orders, 401, "invalid_token", "")
			s.expect("the new key's token after the retirement", "/orders", fresh, 200, "", "orders")
		})
	}

	t.Run("trailing slash", func(t *testing.T) {
		slash := conf
		slash.TrailingSlash = true
		q := interop.StartProvider(t, node, slash)
		tok := q.Token(interop.OrdersResource)
		// Spelled without the slash: the token's iss is another issuer's,
		// and the sidecar says why it has no keys, and what to write.
		s, sc := newOIDCStack(t, q, q.URL, config.GatewayEnvoy)
		s.expect("the policy spells the issuer without its slash", "/orders", tok, 401, "invalid_token", "")
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := http.Get(sc.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf(`the provider's issuer is "%s", not the policy's "%s": its tokens carry "%s" as iss; write oidc.issuer exactly so`, q.Issuer, q.URL, q.Issuer)
			if resp.StatusCode == 503 && strings.Contains(string(body), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the sidecar's /readyz: %d %s", resp.StatusCode, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s, _ = newOIDCStack(t, q, q.Issuer, config.GatewayEnvoy)
		s.expect("the policy spells the issuer as the provider does", "/orders", tok, 200, "", "orders")
	})
}

// TestProviderKeySetFile: the provider's key set saved as a file (an RSA
// and an EC key) serves an RS256-only issuer: the EC key is left out
// with a warning, as the sidecar leaves it out of the fetched set.
func TestProviderKeySetFile(t *testing.T) {
	p := interop.StartProvider(t, interop.Node(t), interop.OIDCProvider(t))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "idp.jwks.json"), p.JWKS(), 0o644)
	policy := strings.Replace(interop.OIDCPolicy(p.Issuer), fmt.Sprintf("      algorithms: [RS256, ES256]\n      token_type: at+jwt\n      require_exp: true\n      oidc: {issuer: %q, refresh: 1s, min_interval: 200ms, timeout: 2s}", p.Issuer),
		fmt.Sprintf("      issuer: %q\n      algorithms: [RS256]\n      token_type: at+jwt\n      require_exp: true\n      jwks: {file: idp.jwks.json}", p.Issuer), 1)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644)
	res, err := compiler.CompileFiles([]string{filepath.Join(dir, "policy.yaml")}, compiler.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if w := res.Warnings.Error(); !strings.Contains(w, "issuer orders: idp.jwks.json: key 1 (kid ec-1): alg ES256 is not one of the issuer's [RS256]: left out") {
		t.Errorf("warnings: %s", w)
	}
	e, err := filter.New(res.Config, res.Table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	d := e.Decide(&filter.Request{Method: "GET", Authority: "api.example", Path: "/orders", Headers: filter.HeaderList{{"authorization", "Bearer " + p.Token(interop.OrdersResource)}}})
	if !d.Allow {
		t.Fatalf("the provider's RS256 token with its saved key set: %d %s %s", d.Status, d.Reason, d.Detail)
	}
}

// TestDevWithProvider: keycard dev with a real provider on loopback
// serves no demo provider in its place and fetches its keys, trusting
// the provider's CA from --ca-file.
func TestDevWithProvider(t *testing.T) {
	p := interop.StartProvider(t, interop.Node(t), interop.OIDCProvider(t))
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	os.WriteFile(file, []byte(interop.OIDCPolicy(p.Issuer)), 0o644)
	module := wasmtest.Module(t, "../../..")
	g, err := devgw.Start(context.Background(), devgw.Options{Policy: []string{file}, Wasm: module, Listen: "127.0.0.1:0", Workers: 1,
		CAFile: p.CAFile, Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if len(g.Providers) != 0 {
		t.Fatalf("dev serves its own provider in place of %s", p.Issuer)
	}
	req, _ := http.NewRequest("GET", "http://"+g.Addr+"/billing", nil)
	req.Host = "api.example"
	req.Header.Set("Authorization", "Bearer "+p.Token(interop.BillingResource))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a token of the provider through keycard dev: %d %s", resp.StatusCode, body)
	}
}
