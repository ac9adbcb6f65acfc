#!/usr/bin/env bash
# The Keycard policy pipeline, for any CI: check, test, diff against the
# target branch, compile, render, and checksums of every artifact.
# The example GitHub Actions and GitLab CI files call it; Keycard's own
# tests run it too.
#
# Settings (environment):
#   KEYCARD            the keycard binary (default: keycard on PATH)
#   KEYCARD_POLICY     the policy directory (default: policies)
#   KEYCARD_OUT        where artifacts go (default: keycard-out)
#   KEYCARD_SIDECAR    host:port the gateways reach the sidecar at (required)
#   KEYCARD_RESOLVER   Kong: DNS server for a host-name sidecar
#   KEYCARD_GATEWAY_KEY the key the sidecar requires to read token state
#                      (its --gateway-key; render reads it from here)
#   KEYCARD_TARGET_REF the branch a change will merge into (e.g. origin/main);
#                      when set, the diff against it is written as markdown
#   KEYCARD_WASM       a filter module to deploy instead of keycard's own
# Exit status: the first failing step's (1: the policy has errors or a case
# failed; 2: a usage error).
set -euo pipefail

kc=${KEYCARD:-keycard}
policy=${KEYCARD_POLICY:-policies}
out=${KEYCARD_OUT:-keycard-out}
sidecar=${KEYCARD_SIDECAR:?set KEYCARD_SIDECAR to the host:port the gateways reach the sidecar at}
format=text
if [ -n "${GITHUB_ACTIONS:-}" ]; then format=github; fi # annotate the pull request
wasm=()
if [ -n "${KEYCARD_WASM:-}" ]; then wasm=(--wasm "$KEYCARD_WASM"); fi
resolver=()
if [ -n "${KEYCARD_RESOLVER:-}" ]; then resolver=(--resolver "$KEYCARD_RESOLVER"); fi

mkdir -p "$out"
echo "== check"
"$kc" check --format "$format" "$policy"
echo "== test"
"$kc" test --junit "$out/policy-tests.xml" "$policy"
if [ -n "${KEYCARD_TARGET_REF:-}" ]; then
	echo "== diff against $KEYCARD_TARGET_REF"
	"$kc" diff "$KEYCARD_TARGET_REF" HEAD --format markdown -- "$policy" > "$out/policy-diff.md"
	cat "$out/policy-diff.md"
fi
echo "== compile"
"$kc" compile "$policy" -o "$out/policy.kct"
"$kc" compile "$policy" --format json --gateway kong -o "$out/keycard.kong.json"
"$kc" compile "$policy" --format json --gateway envoy -o "$out/keycard.envoy.json"
echo "== render"
"$kc" render kong "$policy" --sidecar "$sidecar" "${resolver[@]}" "${wasm[@]}" -o "$out/kong"
"$kc" render envoy "$policy" --sidecar "$sidecar" "${wasm[@]}" -o "$out/envoy"
echo "== checksums"
(cd "$out" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS && cat SHA256SUMS)
