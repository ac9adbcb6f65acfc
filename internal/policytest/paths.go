package policytest

// PathCase is one row of the path table: a request target sent by a
// level-1 caller to api.shop.example (service_a under /a, where /a/admin
// needs level 2), and the decision. The table in docs/policy.md is this
// one; the native, wasm and real-host tests all run it.
type PathCase struct {
	Target string
	Status int
	Reason string // of a denial
}

// Paths is the path table.
func Paths() []PathCase {
	return []PathCase{
		{"/a/auth", 200, ""},
		{"/a/public/../admin", 403, "insufficient_level"},
		{"/a//admin", 403, "insufficient_level"},
		{"/a/%61dmin", 403, "insufficient_level"},
		{"/a/admin%2F..", 400, "bad_request"},
		{"/a/admin;x=1", 400, "bad_request"},
		{"/a/admin#x", 403, "insufficient_level"},
		{"/a/admin?x=/../auth", 403, "insufficient_level"},
		{"/a/auth?next=%2Fadmin%25", 200, ""},
		{"/a/ADMIN", 403, "no_route"},
		{"/a/admin/", 403, "insufficient_level"},
		{"/a/auth/", 200, ""},
		{"/a/admin%00", 400, "bad_request"},
		{"/a\\admin", 400, "bad_request"},
		{"/a/%5cadmin", 400, "bad_request"},
		{"/a/%2561dmin", 400, "bad_request"},
		{"/a/%252e%252e/admin", 400, "bad_request"},
		{"/a/%2e%2e/a/admin", 403, "insufficient_level"},
		{"/a/../../a/admin", 403, "insufficient_level"},
		{"/a/admin/%25", 403, "insufficient_level"},
		{"/a/%7Euser", 403, "no_route"},
		{"a/admin", 400, "bad_request"},
	}
}
