package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/keycard-gw/keycard/config"
)

// KeySet is the sidecar's answer to GET /v1/keys?issuer=NAME: the keys it
// holds for one issuer (a fetched JWKS's usable keys, a run-time secret),
// named by Version, which changes whenever the keys do.
type KeySet struct {
	Version int          `json:"v"`
	Issuer  string       `json:"issuer"`
	Set     string       `json:"set"` // digest of the keys
	Keys    []config.Key `json:"keys"`
}

// KeySetVersion is the key-set answer's format version.
const KeySetVersion = 1

// MaxKeySet bounds the key-set answer the filter reads; MaxKeys the keys
// in it.
const (
	MaxKeySet = 256 << 10
	MaxKeys   = 64
)

// KeysQuery is the sidecar path that answers the keys of an issuer; kid,
// when not "", is a key a token named that the filter does not have, so
// the sidecar may look again.
func KeysQuery(issuer, kid string) string {
	q := "/v1/keys?issuer=" + url.QueryEscape(issuer)
	if kid != "" {
		q += "&kid=" + url.QueryEscape(kid)
	}
	return q
}

// DecodeKeySet parses and checks a key-set answer for issuer.
func DecodeKeySet(data []byte, issuer string) (*KeySet, error) {
	if len(data) > MaxKeySet {
		return nil, fmt.Errorf("keys: answer of %d bytes, at most %d", len(data), MaxKeySet)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ks KeySet
	if err := dec.Decode(&ks); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if dec.More() {
		return nil, errors.New("keys: data after the answer")
	}
	switch {
	case ks.Version != KeySetVersion:
		return nil, fmt.Errorf("keys: version %d, this build reads %d", ks.Version, KeySetVersion)
	case ks.Issuer != issuer:
		return nil, fmt.Errorf("keys: answer for issuer %q, asked for %q", ks.Issuer, issuer)
	case len(ks.Keys) == 0:
		return nil, errors.New("keys: no keys")
	case len(ks.Keys) > MaxKeys:
		return nil, fmt.Errorf("keys: %d keys, at most %d", len(ks.Keys), MaxKeys)
	}
	for i, k := range ks.Keys {
		if _, err := k.Parse(); err != nil {
			return nil, fmt.Errorf("keys: key %d: %w", i, err)
		}
	}
	return &ks, nil
}
