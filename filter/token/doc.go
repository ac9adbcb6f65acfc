// Package token owns the filter's token handling: reading the token from
// the configured sources (the request's Headers, and HeaderList, a list
// held in Go memory), verifying a JWT against the policy's issuers with
// algorithms pinned per issuer, mapping its claims to an identity, and
// caching verified tokens so that a repeated token costs a map lookup.
package token
