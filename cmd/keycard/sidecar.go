package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/sidecar/envflag"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/sidecar"
	"github.com/keycard-gw/keycard/sidecar/keyset"
)

// sidecarFlags declares keycard sidecar's flags: the one list its
// parsing, --help and docs/sidecar.md's flag table (flagTable) read.
func sidecarFlags() (*flag.FlagSet, *sidecar.Options, *string, secretFiles) {
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	opts := &sidecar.Options{}
	opts.Register(fs)
	policy := fs.String("policy", "", "the filter's policy (files or directory) or its compiled configuration (keycard.json): the sidecar fetches its issuers' remote keys and holds their run-time secrets")
	envflag.Bind(fs, "policy", "KEYCARD_POLICY")
	secrets := secretFiles{}
	fs.Var(secrets, "secret-file", "NAME=PATH of a run-time secret (secret: {runtime: NAME}); KEYCARD_SECRET_NAME works too (repeatable)")
	return fs, opts, policy, secrets
}

func cmdSidecar(args []string, stdout, stderr io.Writer) int {
	fs, opts, policy, secrets := sidecarFlags()
	if pos, ok := parseArgs(fs, args, stdout, stderr); !ok {
		return exitCode(fs)
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "keycard sidecar: unexpected argument %q\n", pos[0])
		return 2
	}
	if *policy != "" {
		cfg, err := loadFilterConfig(*policy)
		if err != nil {
			return fail(stderr, err)
		}
		if cfg.Sidecar.Key != "" && opts.GatewayKey != "" && cfg.Sidecar.Key != opts.GatewayKey {
			return fail(stderr, fmt.Errorf("sidecar: --policy %s carries another gateway key than --gateway-key: the filter deployed with it would get 401 on every state read (render again with --sidecar-key, or give the sidecar the key the configuration has)", *policy))
		}
		if opts.KeySources, err = keyset.Sources(cfg, secrets.lookup); err != nil {
			return fail(stderr, fmt.Errorf("sidecar: %w", err))
		}
	} else if len(secrets) > 0 {
		return fail(stderr, errors.New("sidecar: --secret-file needs --policy, which says which issuer takes which secret"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := sidecar.Run(ctx, *opts, log, nil); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// loadFilterConfig reads the filter's configuration: a compiled one
// (JSON, as keycard compile --format json and render's keycard.json
// write it) or a policy, compiled here.
func loadFilterConfig(path string) (*config.Config, error) {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() && strings.HasSuffix(path, ".json") {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var cfg config.Config
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("%s: not a compiled configuration: %v", path, err)
		}
		if _, err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		return &cfg, nil
	}
	// The sidecar holds remote keys and run-time secrets, never the HMAC
	// secrets a policy compiles in (secret: {env: ...}): it need not be
	// given them. A variable that is not set stands in as a placeholder
	// that never leaves this process.
	env := func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			return v, true
		}
		return strings.Repeat("unused-by-the-sidecar-", 4), true
	}
	res, err := compiler.CompileFiles([]string{path}, compiler.Settings{Env: env})
	if err != nil {
		return nil, err
	}
	return res.Config, nil
}

// secretFiles are run-time secrets by name, read from files.
type secretFiles map[string]string

func (s secretFiles) String() string { return strings.Join(slices.Sorted(maps.Keys(s)), ",") }
func (s secretFiles) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("want NAME=PATH, not %q", v)
	}
	s[name] = path
	return nil
}

// runtimeSecretFlag declares --secret-file on a command that makes
// tokens (token, test): an issuer whose secret the sidecar holds at run
// time (secret: {runtime: NAME}) signs with the secret the sidecar would
// read, from the file or from $KEYCARD_SECRET_NAME.
func runtimeSecretFlag(fs *flag.FlagSet) secretFiles {
	s := secretFiles{}
	fs.Var(s, "secret-file", "NAME=PATH of a run-time secret (secret: {runtime: NAME}) to sign tokens with; KEYCARD_SECRET_NAME works too (repeatable)")
	return s
}

// use makes the token minting read run-time secrets as the sidecar does.
func (s secretFiles) use() { mint.RuntimeSecret = s.lookup }

// lookup finds a run-time secret: --secret-file, else
// KEYCARD_SECRET_<NAME>.
func (s secretFiles) lookup(name string) ([]byte, error) {
	if path, ok := s[name]; ok {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("run-time secret %s: %w", name, err)
		}
		return data, nil // exact bytes, as the compiler reads a secret file
	}
	env := config.SecretEnv(name)
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return []byte(v), nil
	}
	return nil, fmt.Errorf("run-time secret %s: give --secret-file %s=PATH or set %s", name, name, env)
}
