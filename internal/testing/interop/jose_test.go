package interop_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/internal/testing/interop"
	"github.com/keycard-gw/keycard/internal/testing/wasmtest"
	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// answer is what a target did with one token.
type answer struct {
	status  int
	reason  string
	subject string // X-Auth-Sub as the upstream receives it
}

// TestJose: every token jose minted (every algorithm, valid and invalid
// variants, keys as a JWKS file and as PEM or raw secret) is decided as
// jose.jwtVerify decides it, natively and through the module in both of
// the model's flavours.
func TestJose(t *testing.T) {
	j := interop.MintJose(t, interop.Node(t))
	module := wasmtest.Module(t, "../../..")
	ctx := context.Background()
	checked := 0
	for _, form := range []string{interop.FormJWKS, interop.FormPEM} {
		res, err := compiler.CompileFiles([]string{j.Policy(t, t.TempDir(), form, nil)}, compiler.Settings{})
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		e, err := filter.New(res.Config, res.Table, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		targets := map[string]func(tok string) answer{
			"native": func(tok string) answer {
				d := e.Decide(&filter.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: filter.HeaderList{{"authorization", "Bearer " + tok}}})
				a := answer{status: 200, reason: d.Reason}
				if !d.Allow {
					a.status = d.Status
				}
				for _, kv := range d.Set {
					if kv[0] == "x-auth-sub" {
						a.subject = kv[1]
					}
				}
				return a
			},
		}
		for _, flavor := range []string{config.GatewayEnvoy, config.GatewayKong} {
			cfg, conf := wasmtest.Config(t, res.Config, flavor, "")
			vm := wasmtest.VM(t, module, wasmhost.Options{Gateway: flavor}, conf)
			targets["wasm-"+cfg.Gateway] = func(tok string) answer {
				r, err := vm.Do(ctx, wasmhost.Request{Method: "GET", Authority: "api.example", Path: "/me", Headers: [][2]string{{"authorization", "Bearer " + tok}}})
				if err != nil {
					t.Fatal(err)
				}
				if r.Response != nil {
					var body struct {
						Reason string `json:"reason"`
					}
					json.Unmarshal(r.Response.Body, &body)
					return answer{status: r.Response.Status, reason: body.Reason}
				}
				a := answer{status: 200}
				for _, kv := range r.Headers {
					if kv[0] == "x-auth-sub" {
						a.subject = kv[1]
					}
				}
				return a
			}
		}
		for name, target := range targets {
			for _, tok := range j.Tokens {
				status, reason := tok.Want(form)
				got := target(tok.Token)
				if got.status != status || status != 200 && got.reason != reason || status == 200 && got.subject != tok.Subject() {
					t.Errorf("%s, keys as %s, %s %s: got %d %s sub=%q, want %d %s sub=%q (jose: %s / %s)", name, form, tok.Alg, tok.Name,
						got.status, got.reason, got.subject, status, reason, tok.Subject(), tok.JoseKey, tok.JoseJWKS)
				}
				checked++
			}
		}
	}
	t.Logf("%d tokens minted by jose, %d decisions compared with jose.jwtVerify's", len(j.Tokens), checked)
}
