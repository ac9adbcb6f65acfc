package tables

import (
	"path/filepath"
	"testing"

	"github.com/keycard-gw/keycard/compiler"
)

// DemoSecret is the example policy's HMAC secret (issuer login reads it
// from $KEYCARD_DEMO_SECRET), as the Makefile sets it.
const DemoSecret = "keycard-demo-secret-not-for-production"

// Example compiles the policy in dir (the example, policies/ under the
// checkout, or a changed copy of it) with the demo secret set for the
// test alone.
func Example(t testing.TB, dir string, s compiler.Settings) *compiler.Result {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", DemoSecret)
	res, err := compiler.CompileFiles([]string{dir}, s)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Policies is the example policy's folder in the checkout at root.
func Policies(root string) string { return filepath.Join(root, "policies") }
