// Package anchors measures Keycard's decision next to the ways the same
// decision is usually made, in one run and on the same generated
// policies: OPA's prepared evaluation (a map lookup, its best case, and
// the usual list of globs) and the seed plugins' scan of one regular
// expression per route. It lives in the bench module so that OPA never
// enters the product's dependencies.
package anchors
