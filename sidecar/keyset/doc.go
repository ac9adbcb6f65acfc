// Package keyset owns the key sets the sidecar holds for the filter: an
// issuer's JWKS fetched from a URL or found through OpenID Connect
// discovery, and run-time HMAC secrets, served to the filter on
// GET /v1/keys so that a provider's key rotation needs no recompile and
// no secret sits in a rendered file.
//
// A fetch is bounded (size, number of keys, time), sends the last ETag,
// follows Cache-Control within the policy's refresh and min_interval, and
// never replaces a good set with a bad answer: the provider being down,
// slow, or answering garbage leaves the last good keys in use and is
// counted in the metrics. Keys that cannot verify any of the issuer's
// pinned algorithms are left out.
package keyset
