package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// TestSchema checks docs/policy.schema.json against the example policies
// (which must pass) and against broken copies (which must not).
func TestSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	schema, err := c.Compile(filepath.Join("..", "docs", "policy.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T, src []byte) any {
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	files, err := Files([]string{filepath.Join("..", "policies")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, _ := os.ReadFile(f)
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := schema.Validate(load(t, src)); err != nil {
				t.Error(err)
			}
		})
	}
	services, _ := os.ReadFile(filepath.Join("..", "policies", "services.yaml"))
	broken := map[string]string{
		"typo":          strings.Replace(string(services), "access: user", "acess: user", 1),
		"bad method":    strings.Replace(string(services), "[GET, POST]", "[get]", 1),
		"bad default":   strings.Replace(string(services), "default: deny", "default: maybe", 1),
		"bad token":     strings.Replace(string(services), "token: optional", "token: sometimes", 1),
		"no access":     strings.Replace(string(services), "{path: /auth, access: user}", "{path: /auth}", 1),
		"bad host":      strings.Replace(string(services), "a.shop.example,", "a shop,", 1),
		"unknown field": string(services) + "extra: 1\n",
	}
	for name, src := range broken {
		t.Run(name, func(t *testing.T) {
			if err := schema.Validate(load(t, []byte(src))); err == nil {
				t.Error("schema accepted it")
			}
		})
	}
}
