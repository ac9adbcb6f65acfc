package tables

import (
	"fmt"
	"testing"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/internal/idp"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
	"github.com/keycard-gw/keycard/sidecar/keyset"
)

// RuntimeSecret is the run-time secret of RemoteKeysPolicy's login
// issuer: the sidecar holds it, the configuration does not.
const RuntimeSecret = "run-time-secret-held-by-the-sidecar-only"

// RemoteKeysPolicy is a policy whose keys the sidecar holds: issuer idp
// is an OpenID provider at issuerURL (keys by discovery, refreshed every
// second, fetched at most every 200ms), issuer login takes HS256 tokens
// with the run-time secret LOGIN_SECRET. GET api.example/me needs level
// 1 and forwards the subject as X-Auth-Sub.
func RemoteKeysPolicy(issuerURL string) string {
	return fmt.Sprintf(`version: 1
name: oidc
identity:
  token:
    - {header: Authorization, scheme: Bearer}
  issuers:
    - name: idp
      algorithms: [ES256]
      require_exp: true
      oidc: {issuer: %q, refresh: 1s, min_interval: 200ms, timeout: 500ms}
    - name: login
      issuer: https://login.example
      algorithms: [HS256]
      secret: {runtime: LOGIN_SECRET}
  claims: {subject: sub, level: level, roles: roles}
  forward: {X-Auth-Sub: subject}
levels: {public: 0, user: 1}
services:
  - name: api
    hosts: [api.example]
    routes:
      - {path: /, access: public}
      - {path: /me, access: user}
`, issuerURL)
}

// CompileRemoteKeys compiles RemoteKeysPolicy for issuerURL, with
// sidecarKey as the key the filter sends the sidecar.
func CompileRemoteKeys(t testing.TB, issuerURL, sidecarKey string) *compiler.Result {
	t.Helper()
	res, err := compiler.Compile([]string{"oidc.yaml"}, map[string][]byte{"oidc.yaml": []byte(RemoteKeysPolicy(issuerURL))}, compiler.Settings{SidecarKey: sidecarKey})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// RemoteKeys is the remote-keys scenario's parts: an identity provider
// on loopback, RemoteKeysPolicy compiled for it, and a sidecar holding
// its keys and the run-time secret.
type RemoteKeys struct {
	Provider *idp.Provider
	Res      *compiler.Result
	Sidecar  *sidecartest.Sidecar
}

// StartRemoteKeys starts the scenario's provider, failing as fault says
// from the first fetch (the sidecar's, as it starts), and its sidecar;
// both stop when the test ends.
func StartRemoteKeys(t testing.TB, fault idp.Fault) RemoteKeys {
	t.Helper()
	p, err := idp.Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p.SetFault(fault)
	res := CompileRemoteKeys(t, p.URL, sidecartest.GatewayKey)
	sc := sidecartest.StartHolding(t, res.Config, p.Client(), func(string) ([]byte, error) { return []byte(RuntimeSecret), nil })
	return RemoteKeys{Provider: p, Res: res, Sidecar: sc}
}

// ProviderFault is one way an identity provider fails and the outcome the
// sidecar counts for it.
type ProviderFault struct {
	Name    string
	Fault   idp.Fault
	Outcome string
}

// ProviderFaults are the provider failures the key tests run, natively
// and through the module.
var ProviderFaults = []ProviderFault{
	{"down", idp.Down, keyset.OutcomeUnreachable},
	{"slower than the timeout", idp.Slow, keyset.OutcomeUnreachable},
	{"status 500", idp.Status500, keyset.OutcomeStatus},
	{"5 MiB body", idp.Huge, keyset.OutcomeTooLarge},
	{"invalid JSON", idp.Garbage, keyset.OutcomeInvalid},
	{"only an unpinned algorithm", idp.UnpinnedAlg, keyset.OutcomeNoKeys},
}
