package envflag

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestEnvBackedFlags(t *testing.T) {
	t.Setenv("KC_TEST_KEY", "s3cret-value-0123456789")
	t.Setenv("KC_TEST_TTL", "abc")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	key := fs.String("key", "", "the key")
	ttl := fs.Duration("ttl", time.Hour, "a lifetime")
	Bind(fs, "key", "KC_TEST_KEY")
	Bind(fs, "ttl", "KC_TEST_TTL")
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if strings.Contains(help.String(), "s3cret") || !strings.Contains(help.String(), "the key (default $KC_TEST_KEY, set)") {
		t.Errorf("help:\n%s", help.String())
	}
	if err := fs.Parse([]string{"--ttl", "5s"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs); err != nil {
		t.Fatal(err)
	}
	if *key != "s3cret-value-0123456789" || *ttl != 5*time.Second {
		t.Errorf("key %q ttl %v: the variable for an unset flag, the command line over the variable", *key, *ttl)
	}
	fs2 := flag.NewFlagSet("y", flag.ContinueOnError)
	fs2.Duration("ttl", time.Hour, "a lifetime")
	Bind(fs2, "ttl", "KC_TEST_TTL")
	_ = fs2.Parse(nil)
	if err := Apply(fs2); err == nil || err.Error() != "$KC_TEST_TTL: not a valid value for --ttl" {
		t.Errorf("a variable that does not parse: %v", err)
	}
}
