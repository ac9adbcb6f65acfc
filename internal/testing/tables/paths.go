package tables

import (
	"fmt"
	"strings"
)

// PathCase is one row of the path table: a request target sent by a
// level-1 caller to api.shop.example (service_a under /a, where /a/admin
// needs level 2), the decision, and why. docs/policy.md's table is
// rendered from these rows (PathTable; a test keeps it in step), and the
// native, wasm and real-host tests all run them.
type PathCase struct {
	Target string
	Status int
	Reason string // of a denial
	Why    string
}

// Paths is the path table.
func Paths() []PathCase {
	return []PathCase{
		{"/a/auth", 200, "", "a plain path"},
		{"/a/public/../admin", 403, "insufficient_level", "dot segments resolved: read as `/a/admin`"},
		{"/a//admin", 403, "insufficient_level", "repeated slashes merged: `/a/admin`"},
		{"/a/../../a/admin", 403, "insufficient_level", "`..` above the root stays at the root"},
		{"/a/b/..//admin", 403, "insufficient_level", "an empty segment after `..` is merged: `/a/admin`"},
		{"/a/%61dmin", 403, "insufficient_level", "escapes decoded once: `/a/admin`"},
		{"/a/admin?x=/../auth", 403, "insufficient_level", "the query is not part of the path"},
		{"/a/auth?next=%2Fadmin%25", 200, "", "escapes in the query are the upstream's business"},
		{"/a/admin/", 403, "insufficient_level", "a trailing slash is kept and matches `/admin` routes"},
		{"/a/auth/", 200, "", "a trailing slash on a public route"},
		{"/a/ADMIN", 403, "no_route", "case is kept: no `/ADMIN` route, the service default applies"},
		{"/a/admin/%25", 403, "insufficient_level", "`%25` is a literal `%`"},
		{"/a/%7Euser", 403, "no_route", "`%7E` is `~`"},
		{"/a/auth//..", 400, "bad_request", "`..` after an empty segment: `/a/` merged first, `/a/auth/` by RFC 3986"},
		{"/a/auth//./..", 400, "bad_request", "the same through `.`"},
		{"/a/auth///../..", 400, "bad_request", "the same with more slashes"},
		{"/a/auth//%2e%2e", 400, "bad_request", "the same with an encoded `..`"},
		{"/a/admin/%2e%2e", 400, "bad_request", "a dot segment written with `%2e`: an upstream that does not decode dots sees `/a/admin/%2e%2e`"},
		{"/a/admin/.%2e", 400, "bad_request", "the same, half encoded"},
		{"/a/%2e%2e/a/admin", 400, "bad_request", "the same, leading"},
		{"/a/#/../admin", 400, "bad_request", "a `#`: clients never send a fragment, and upstreams that keep it read another path"},
		{"/a/admin#x", 400, "bad_request", "the same"},
		{"/a/admin%2F..", 400, "bad_request", "an encoded `/` (allowed with `allow_encoded_path`)"},
		{"/a/%5cadmin", 400, "bad_request", "an encoded `\\`"},
		{"/a\\admin", 400, "bad_request", "a backslash"},
		{"/a/admin;x=1", 400, "bad_request", "a `;` path parameter"},
		{"/a/admin%00", 400, "bad_request", "an encoded NUL"},
		{"/a/%2561dmin", 400, "bad_request", "encoded twice"},
		{"/a/%252e%252e/admin", 400, "bad_request", "dots encoded twice"},
		{"a/admin", 400, "bad_request", "not an absolute path"},
	}
}

// PathTable renders the path table as the markdown docs/policy.md shows.
func PathTable() string {
	var b strings.Builder
	b.WriteString("| request target (level 1, `api.shop.example`) | decision | why |\n|---|---|---|\n")
	for _, p := range Paths() {
		decision := "allowed"
		if p.Status != 200 {
			decision = fmt.Sprintf("**%d** `%s`", p.Status, p.Reason)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", strings.ReplaceAll(p.Target, "|", `\|`), decision, p.Why)
	}
	return b.String()
}
