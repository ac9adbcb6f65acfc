package policytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/keycard-gw/keycard/config"
	"io"
	"net/http"

	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/state"
)

// HeaderList is request headers as lower-case name/value pairs.
type HeaderList [][2]string

// Values returns every value of a header.
func (h HeaderList) Values(name string) []string {
	var out []string
	for _, kv := range h {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out
}

// Asker answers a pending decision's question to the sidecar.
type Asker func(p *filter.Pending) (*state.Answer, error)

// Static is the Asker of `keycard test`: policy tests evaluate the static
// policy, so the sidecar knows nothing about the token (unknown) and the
// user is enabled. Runtime state is tested against a real sidecar.
func Static(*filter.Pending) (*state.Answer, error) {
	return &state.Answer{Version: state.Version, Token: state.Unknown, Status: state.Enabled}, nil
}

// Nth returns the i-th value of a header.
func (h HeaderList) Nth(name string, i int) (string, bool) {
	for _, kv := range h {
		if kv[0] == name {
			if i == 0 {
				return kv[1], true
			}
			i--
		}
	}
	return "", false
}

// Each calls fn for every header in order.
func (h HeaderList) Each(fn func(name, value string)) {
	for _, kv := range h {
		fn(kv[0], kv[1])
	}
}

// Native runs cases through the decision code in this process, asking
// ask when a decision needs the sidecar.
func Native(e *filter.Engine, ask Asker) Target {
	kong := e.Config().Gateway == config.GatewayKong
	return func(method, host, path string, headers [][2]string) (Outcome, error) {
		if kong { // the client's host reaches the filter as the Host header
			headers = append([][2]string{{"host", host}}, headers...)
		}
		d := e.Decide(&filter.Request{Method: method, Authority: host, Path: path, Headers: HeaderList(headers)})
		if d.Pending != nil {
			a, err := ask(d.Pending)
			d = e.Finish(d.Pending, a, err)
		}
		return OutcomeOf(&d), nil
	}
}

// SidecarAsker asks a running sidecar at base (http://host:port) with
// its gateway key, as the filter does.
func SidecarAsker(client *http.Client, base, gatewayKey string) Asker {
	return func(p *filter.Pending) (*state.Answer, error) {
		req, err := http.NewRequest("GET", base+p.StateQuery(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Keycard-Gateway-Key", gatewayKey)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, state.MaxAnswer+1))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("sidecar: status %d", resp.StatusCode)
		}
		return state.Decode(data)
	}
}

// WithoutKongSets drops from o the headers Kong's proxy location sets
// itself (config.OverrideHeaders' KongSets): on Kong the upstream gets
// the gateway's own value there, not one the filter decided on.
func (o *Outcome) WithoutKongSets() {
	for _, oh := range config.OverrideHeaders {
		if oh.KongSets {
			delete(o.Headers, oh.Name)
		}
	}
}

// OutcomeOf turns a decision into the outcome cases compare.
func OutcomeOf(d *filter.Decision) Outcome {
	o := Outcome{Status: d.Status, Reason: d.Reason, Headers: map[string]string{}}
	if d.Allow {
		o.Status = 200
	}
	for _, kv := range d.Set {
		o.Headers[kv[0]] = kv[1]
	}
	return o
}

// HoldRuntimeSecrets hands the engine, as the sidecar would, the
// run-time secret of every issuer that has one (secret: {runtime:
// NAME}), found by secret: `keycard test` then decides tokens signed
// with it as the deployed filter does. An issuer whose secret is not
// found is left without keys (its cases say so).
func HoldRuntimeSecrets(e *filter.Engine, cfg *config.Config, secret func(name string) ([]byte, error)) error {
	for _, is := range cfg.Identity.Issuers {
		if is.Remote == nil || is.Remote.Secret == "" {
			continue
		}
		v, err := secret(is.Remote.Secret)
		if err != nil {
			continue
		}
		body, err := json.Marshal(state.KeySet{Version: state.KeySetVersion, Issuer: is.Name, Set: "runtime",
			Keys: []config.Key{{Kty: "oct", K: base64.RawURLEncoding.EncodeToString(v)}}})
		if err != nil {
			return err
		}
		if _, err := e.KeysArrived(is.Name, body, nil); err != nil {
			return fmt.Errorf("issuer %s: %w", is.Name, err)
		}
	}
	return nil
}
