package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
)

// keySources says, per issuer, where its keys come from: pinned in the
// configuration, or held by the sidecar (fetched, or a run-time secret).
func keySources(cfg *config.Config) []string {
	var out []string
	for _, is := range cfg.Identity.Issuers {
		if is.Kind == config.KindOpaque {
			out = append(out, is.Name+": opaque tokens, checked by the sidecar")
			continue
		}
		var parts []string
		pinned, secrets := 0, 0
		for _, k := range is.Keys {
			if k.Kty == "oct" {
				secrets++
			} else {
				pinned++
			}
		}
		if secrets > 0 {
			parts = append(parts, "HMAC secret compiled into the configuration")
		}
		if pinned > 0 {
			parts = append(parts, fmt.Sprintf("%d public key(s) pinned in the configuration", pinned))
		}
		if r := is.Remote; r != nil {
			ms := func(n int) string { return (time.Duration(n) * time.Millisecond).String() }
			switch {
			case r.OIDCIssuer != "":
				parts = append(parts, fmt.Sprintf("keys the sidecar fetches through OpenID discovery at %s (refresh %s, at most one fetch per %s)", r.URL(), ms(r.RefreshMillis), ms(r.MinIntervalMillis)))
			case r.JWKSURL != "":
				parts = append(parts, fmt.Sprintf("keys the sidecar fetches from %s (refresh %s, at most one fetch per %s)", r.JWKSURL, ms(r.RefreshMillis), ms(r.MinIntervalMillis)))
			}
			if r.Secret != "" {
				parts = append(parts, "run-time secret "+r.Secret+" held by the sidecar")
			}
		}
		out = append(out, is.Name+": "+strings.Join(parts, "; "))
	}
	return out
}
