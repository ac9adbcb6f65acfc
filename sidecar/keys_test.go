package sidecar_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/sidecar"
	"github.com/keycard-gw/keycard/sidecar/keyset"
	"github.com/keycard-gw/keycard/state"
)

// TestKeysEndpoint: GET /v1/keys is the gateway's alone, names what is
// wrong, and /readyz and /metrics say whether the issuer has keys.
func TestKeysEndpoint(t *testing.T) {
	p, err := idp.Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetFault(idp.Status500)
	src := keyset.Source{Issuer: "sso", Algorithms: []string{"ES256"},
		Remote: config.Remote{OIDCIssuer: p.URL, RefreshMillis: 60000, MinIntervalMillis: 100, TimeoutMillis: 1000}}
	sets := keyset.New([]keyset.Source{src}, p.Client(), time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sc := sidecartest.Start(t, "shop", func(o *sidecar.Options) { o.Keys = sets })
	get := func(path, key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", sc.URL+path, nil)
		if key != "" {
			req.Header.Set(sidecar.GatewayKeyHeader, key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		name, path, key string
		status          int
		body            string
	}{
		{"no gateway key", "/v1/keys?issuer=sso", "", 401, `"msg":"gateway key required"`},
		{"the admin key", "/v1/keys?issuer=sso", sidecartest.AdminKey, 401, `"msg":"gateway key required"`},
		{"no issuer", "/v1/keys", sidecartest.GatewayKey, 400, `"msg":"issuer is required"`},
		{"unknown issuer", "/v1/keys?issuer=nope", sidecartest.GatewayKey, 404, `no keys of issuer \"nope\" here`},
		{"provider failing", "/v1/keys?issuer=sso", sidecartest.GatewayKey, 503, `no keys yet: ` + p.URL + `/.well-known/openid-configuration: status 500`},
		{"not ready", "/readyz", "", 503, "no keys yet for issuer sso"},
		{"wrong method", "/v1/keys", "", 405, ""},
	} {
		method := "GET"
		if tc.name == "wrong method" {
			method = "POST"
		}
		req, _ := http.NewRequest(method, sc.URL+tc.path, nil)
		if tc.key != "" {
			req.Header.Set(sidecar.GatewayKeyHeader, tc.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	p.SetFault(idp.Healthy)
	time.Sleep(150 * time.Millisecond)
	status, body := get("/v1/keys?issuer=sso&kid="+p.Kid(), sidecartest.GatewayKey)
	if status != 200 {
		t.Fatalf("keys: %d %s", status, body)
	}
	ks, err := state.DecodeKeySet([]byte(body), "sso")
	if err != nil || len(ks.Keys) != 1 || ks.Keys[0].Kid != p.Kid() {
		t.Fatalf("%+v %v", ks, err)
	}
	if status, body := get("/readyz", ""); status != 200 {
		t.Errorf("readyz with keys: %d %s", status, body)
	}
	_, metrics := get("/metrics", "")
	for _, want := range []string{
		`keycard_sidecar_key_fetches_total{issuer="sso",outcome="ok"} 1`,
		`keycard_sidecar_key_fetches_total{issuer="sso",outcome="bad_status"} 1`,
		`keycard_sidecar_key_set_keys{issuer="sso"} 1`,
		`keycard_sidecar_requests_total{endpoint="keys",outcome="ok"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}
