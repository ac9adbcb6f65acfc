// Package config owns the filter configuration: the JSON document that
// `keycard compile --format json` writes and the filter reads in
// proxy_on_configure. It holds the decision table (base64) and everything
// the filter needs besides it: token sources, issuers and their keys,
// claim names, forwarded headers, session settings and the sidecar's
// address.
//
// It is a contract package: types, constants and validation, no
// behaviour. It imports only the standard library and the table package so
// that it builds into the filter.
package config
