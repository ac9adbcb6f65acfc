package policycases

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/state"
)

// Asker answers a pending decision's question to the sidecar.
type Asker func(p *filter.Pending) (*state.Answer, error)

// Static is the Asker of `keycard test`: policy tests evaluate the static
// policy, so the sidecar knows nothing about the token (unknown) and the
// user is enabled. Runtime state is tested against a real sidecar.
func Static(*filter.Pending) (*state.Answer, error) {
	return &state.Answer{Version: state.Version, Token: state.Unknown, Status: state.Enabled}, nil
}

// Native runs cases through the decision code in this process, asking
// ask when a decision needs the sidecar.
func Native(e *filter.Engine, ask Asker) Target {
	kong := e.Config().Gateway == config.GatewayKong
	return func(method, host, path string, headers [][2]string) (Outcome, error) {
		if kong { // the client's host reaches the filter as the Host header
			headers = append([][2]string{{"host", host}}, headers...)
		}
		d := e.Decide(&filter.Request{Method: method, Authority: host, Path: path, Headers: filter.HeaderList(headers)})
		if d.Keys != nil {
			return Outcome{}, missingKeys(e.Config(), d.Keys.Issuer)
		}
		if d.Pending != nil {
			a, err := ask(d.Pending)
			d = e.Finish(d.Pending, a, err)
		}
		return OutcomeOf(&d), nil
	}
}

// missingKeys says why a token cannot be decided natively: its issuer's
// keys are held by the sidecar, and none were given.
func missingKeys(cfg *config.Config, issuer string) error {
	from := "a run-time secret"
	for _, is := range cfg.Identity.Issuers {
		if is.Name == issuer && is.Remote != nil && is.Remote.URL() != "" {
			from = is.Remote.URL()
		}
	}
	return fmt.Errorf("the token is issuer %s's, whose keys the sidecar holds (%s) and none were given: pass --jwks %s=FILE, or --fetch-keys to fetch them as the sidecar does (a run-time secret: --secret-file NAME=PATH)", issuer, from, issuer)
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

// KeySources are where `keycard test` finds the keys the sidecar would
// hold for the filter: run-time secrets (as the sidecar reads them),
// JWKS files by issuer name (read by the rule the sidecar applies to a
// fetched set) and, when Fetch is set, the provider itself.
type KeySources struct {
	Secret func(name string) ([]byte, error)
	Files  map[string]string                         // issuer name -> JWKS file
	Fetch  func(issuer string) ([]config.Key, error) // the sidecar's fetch of a key set, or nil
}

// HoldKeys hands the engine, for each issuer whose keys the sidecar
// holds, the keys sources has for it. An issuer left without keys makes
// the cases that need them fail with the reason (Native says it).
func HoldKeys(e *filter.Engine, cfg *config.Config, sources KeySources) error {
	for name := range sources.Files {
		if !slices.ContainsFunc(cfg.Identity.Issuers, func(is config.Issuer) bool { return is.Name == name && is.Remote != nil }) {
			return fmt.Errorf("--jwks %s: the policy has no issuer %s whose keys the sidecar holds", name, name)
		}
	}
	for _, is := range cfg.Identity.Issuers {
		if is.Remote == nil {
			continue
		}
		var keys []config.Key
		if is.Remote.Secret != "" && sources.Secret != nil {
			if v, err := sources.Secret(is.Remote.Secret); err == nil {
				if v, err = config.DecodeSecret(v, is.Remote.SecretEncoding); err != nil {
					return fmt.Errorf("issuer %s: run-time secret %s: %w", is.Name, is.Remote.Secret, err)
				}
				k, _ := config.KeyFrom("", v)
				keys = append(keys, k)
			}
		}
		if file, ok := sources.Files[is.Name]; ok {
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("--jwks %s: %w", is.Name, err)
			}
			entries, err := config.ParseJWKS(data)
			if err != nil {
				return fmt.Errorf("--jwks %s: %s: %w", is.Name, file, err)
			}
			for _, en := range entries {
				if en.Unusable(is.Algorithms) == nil {
					keys = append(keys, en.Key)
				}
			}
		} else if is.Remote.URL() != "" && sources.Fetch != nil {
			fetched, err := sources.Fetch(is.Name)
			if err != nil {
				return fmt.Errorf("issuer %s: fetching its keys: %w", is.Name, err)
			}
			keys = append(keys, fetched...)
		}
		if len(keys) == 0 {
			continue
		}
		body, err := json.Marshal(state.KeySet{Version: state.KeySetVersion, Issuer: is.Name, Set: "test", Keys: keys})
		if err != nil {
			return err
		}
		if _, err := e.KeysArrived(is.Name, body, nil); err != nil {
			return fmt.Errorf("issuer %s: %w", is.Name, err)
		}
	}
	return nil
}
