package tables

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/compiler"
)

// ShadowPolicy is the example policy (policies/ under the checkout at
// root) with /admin/** of service_a in shadow mode, all of service_b in
// shadow mode, and the shadow header X-Keycard-Shadow on, compiled as
// Example compiles.
func ShadowPolicy(t testing.TB, root string) *compiler.Result {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "policies"))); err != nil {
		t.Fatal(err)
	}
	edit := func(file string, reps ...string) {
		p := filepath.Join(dir, file)
		data, _ := os.ReadFile(p)
		s := string(data)
		for i := 0; i < len(reps); i += 2 {
			if !strings.Contains(s, reps[i]) {
				t.Fatalf("%s has no %q", file, reps[i])
			}
			s = strings.Replace(s, reps[i], reps[i+1], 1)
		}
		os.WriteFile(p, []byte(s), 0o644)
	}
	edit("services.yaml",
		"{path: /admin/**, access: admin, methods: [GET, POST]}", "{path: /admin/**, access: admin, methods: [GET, POST], mode: shadow}",
		"    default: not_found\n", "    default: not_found\n    mode: shadow\n")
	edit("shop.yaml", "levels: {public: 0, user: 1, admin: 2}", "levels: {public: 0, user: 1, admin: 2}\n\noptions:\n  shadow_header: X-Keycard-Shadow")
	return Example(t, dir)
}
