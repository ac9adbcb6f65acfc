package tables

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/internal/testing/sidecartest"
)

// DemoSecret is the example policy's HMAC secret (issuer login reads it
// from $KEYCARD_DEMO_SECRET), as the Makefile sets it.
const DemoSecret = "keycard-demo-secret-not-for-production"

// Example compiles the policy in dir (the example, policies/ under the
// checkout, or a changed copy of it) with the demo secret set for the
// test alone and sidecartest.GatewayKey as the key the filter sends the
// sidecar.
func Example(t testing.TB, dir string) *compiler.Result {
	t.Helper()
	t.Setenv("KEYCARD_DEMO_SECRET", DemoSecret)
	res, err := compiler.CompileFiles([]string{dir}, compiler.Settings{SidecarKey: sidecartest.GatewayKey})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Policies is the example policy's folder in the checkout at root.
func Policies(root string) string { return filepath.Join(root, "policies") }

// RunExampleCases plays the example policy's cases (the *.cases.yaml
// files in dir) through a real host, one subtest a case: each case's
// headers (tokens minted at now), the decision native makes of it, and
// check, which sends the request to the host and compares.
func RunExampleCases(t *testing.T, dir string, cfg *config.Config, native policycases.Target, check func(t *testing.T, c *policycases.Case, headers [][2]string, want policycases.Outcome)) {
	files, _ := policycases.Files([]string{dir})
	cases, err := policycases.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.Name, func(t *testing.T) {
			h, err := c.Headers(cfg, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			want, _ := native(c.Request.Method, c.Request.Host, c.Request.Path, h)
			check(t, c, h, want)
		})
	}
}
