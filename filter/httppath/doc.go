// Package httppath owns request normalisation for the filter: it turns the
// path, host and method a gateway hands over into the canonical forms the
// decision table is matched against, and refuses the ambiguous forms that
// an upstream might read differently than the filter did.
package httppath
