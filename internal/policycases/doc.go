// Package policycases is `keycard test`'s runner: a policy's test cases
// (`*.cases.yaml` next to it) loaded with positioned errors, the tokens
// they describe minted, and each case run against a target — the native
// decision, the module in a host, a gateway — and compared with what it
// expects. It links no testing code: the keycard binary carries it.
package policycases
