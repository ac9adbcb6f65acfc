#!/usr/bin/env bash
# The Keycard policy pipeline, for any CI: check, test, diff against the
# target branch, compile, render, and checksums of every artifact.
# What may be published (test report, diff, decision table) goes to
# KEYCARD_OUT; what carries the policy's HMAC secrets or the gateway key
# (the filter configurations, the rendered gateway files) goes to
# KEYCARD_DEPLOY_OUT, written 0600, for the deployment step only: never
# upload it as a build artifact.
# The example GitHub Actions and GitLab CI files call it; Keycard's own
# tests run it too.
#
# Settings (environment):
#   KEYCARD            the keycard binary (default: keycard on PATH)
#   KEYCARD_POLICY     the policy directory (default: policies)
#   KEYCARD_OUT        where publishable artifacts go (default: keycard-out)
#   KEYCARD_DEPLOY_OUT where secret-bearing files go (default: keycard-deploy)
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
deploy=${KEYCARD_DEPLOY_OUT:-keycard-deploy}
sidecar=${KEYCARD_SIDECAR:?set KEYCARD_SIDECAR to the host:port the gateways reach the sidecar at}
format=text
if [ -n "${GITHUB_ACTIONS:-}" ]; then format=github; fi # annotate the pull request
wasm=()
if [ -n "${KEYCARD_WASM:-}" ]; then wasm=(--wasm "$KEYCARD_WASM"); fi
resolver=()
if [ -n "${KEYCARD_RESOLVER:-}" ]; then resolver=(--resolver "$KEYCARD_RESOLVER"); fi

mkdir -p "$out" "$deploy"
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
"$kc" compile "$policy" --format json --gateway kong -o "$deploy/keycard.kong.json"
"$kc" compile "$policy" --format json --gateway envoy -o "$deploy/keycard.envoy.json"
echo "== render"
"$kc" render kong "$policy" --sidecar "$sidecar" "${resolver[@]}" "${wasm[@]}" -o "$deploy/kong"
"$kc" render envoy "$policy" --sidecar "$sidecar" "${wasm[@]}" -o "$deploy/envoy"
echo "== checksums"
for d in "$out" "$deploy"; do
	(cd "$d" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS && cat SHA256SUMS)
done
# keycard writes a file that carries a secret 0600: none may be among
# what is published.
if leaked=$(find "$out" -type f ! -perm -044 | LC_ALL=C sort) && [ -n "$leaked" ]; then
	echo "keycard-policy: $out holds files that carry secrets: $leaked" >&2
	exit 1
fi
