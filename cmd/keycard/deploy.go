package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/sidecar/envflag"

	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/render"
	"github.com/keycard-gw/keycard/internal/wasmbuild"
)

// upstreams collects repeated --upstream SERVICE=VALUE flags.
type upstreams map[string]string

func (u upstreams) String() string { return fmt.Sprint(map[string]string(u)) }
func (u upstreams) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" || val == "" {
		return fmt.Errorf("want SERVICE=ADDRESS, not %q", v)
	}
	u[k] = val
	return nil
}

// renderTargets are the gateways render writes for: the one list its
// argument check, usage and shell completion read.
var renderTargets = []string{"kong", "envoy", "istio", "envoy-gateway"}

const renderUsage = " POLICY --sidecar HOST:PORT [-o DIR] [--upstream SERVICE=HOST:PORT]..."

func cmdRender(args []string, stdout, stderr io.Writer) int {
	usage := "usage: keycard render " + strings.Join(renderTargets, "|") + renderUsage + "\n(keycard render TARGET --help says more)"
	if len(args) > 0 && isHelp(args[0]) {
		return writeOrFail(stdout, stderr, usage+"\n")
	}
	if len(args) == 0 || !slices.Contains(renderTargets, args[0]) {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	target := args[0]
	fs := flag.NewFlagSet("render "+target, flag.ContinueOnError)
	out := fs.String("o", filepath.Join("build", "render-"+target), "output directory")
	sc := fs.String("sidecar", "", "host:port of keycard sidecar, as the gateway reaches it")
	wasmPath := fs.String("wasm-path", "", "where the gateway finds keycard.wasm (Kong: the directory, default the output directory's absolute path; Envoy: the file, default DIR/keycard.wasm as -o gives it)")
	resolver := fs.String("resolver", "", "Kong: the DNS server its workers resolve a host-name --sidecar with (not needed for an address)")
	wasmFile := fs.String("wasm", "", "a filter module to deploy instead of this keycard's own")
	sidecarKey := fs.String("sidecar-key", "", "the gateway key the sidecar requires to read token state (its --gateway-key)")
	envflag.Bind(fs, "sidecar-key", "KEYCARD_GATEWAY_KEY")
	kongVersion := fs.String("kong-version", "3.10", "Kong version, 3.4 to 3.10")
	runtime := fs.String("runtime", "v8", "Envoy: the Wasm engine, v8 (Envoy's default), wamr (2.3.0 or later only) or wasmtime")
	plugins := fs.Bool("plugins", false, "Kong 3.9+: attach the filter as a plugin entity instead of a filter chain")
	image := fs.String("image", "", "Istio, Envoy Gateway: where it pulls the module, oci://REGISTRY/REPO:TAG (keycard image push) or https://…")
	imageSha := fs.String("sha256", "", "Istio, Envoy Gateway: the module's sha256 (default, for an https --image: this keycard's module's)")
	namespaceDefault := "istio-system"
	if target == "envoy-gateway" {
		namespaceDefault = "default"
	}
	namespace := fs.String("namespace", namespaceDefault, "Istio: the WasmPlugin's namespace (the gateway's); Envoy Gateway: the Gateway's namespace")
	gatewayName := fs.String("gateway-name", "", "Envoy Gateway: the Gateway the filter runs on")
	selector := fs.String("selector", "istio=ingressgateway", "Istio: the gateway workloads' labels, k=v,k=v")
	ups := upstreams{}
	fs.Var(ups, "upstream", "SERVICE=HOST:PORT of a policy service's upstream (repeatable)")
	paths, code, ok := parseUsage(fs, args[1:], stdout, stderr, func(pos []string) bool { return len(pos) > 0 && *sc != "" },
		"keycard render "+target+": give the policy and --sidecar HOST:PORT")
	if !ok {
		return code
	}
	if err := outputOverInput(*out, paths); err != nil {
		fmt.Fprintf(stderr, "keycard render %s: %v\n", target, err)
		return 2
	}
	cf := &compileFlags{key: *sidecarKey}
	res := compilePolicy(paths, cf.settings(), stderr)
	if res == nil {
		return 1
	}
	if err := cf.check(res, true); err != nil {
		fmt.Fprintln(stderr, "keycard render: "+err.Error())
		return 2
	}
	// By default the rendered files point at the module beside them: as
	// -o gives the directory for Envoy (which resolves it against its
	// working directory: start it where render ran), absolute for Kong.
	if *wasmPath == "" {
		if target == "envoy" {
			*wasmPath = filepath.Join(*out, "keycard.wasm")
		} else if abs, err := filepath.Abs(*out); err == nil {
			*wasmPath = abs
		}
	}
	opts := render.Options{Sidecar: *sc, Upstreams: ups, WasmPath: *wasmPath, KongVersion: *kongVersion, Resolver: *resolver, Plugins: *plugins, Runtime: *runtime}
	var files render.Files
	var err error
	switch target {
	case "kong":
		files, err = render.Kong(res, opts)
	case "envoy":
		files, err = render.Envoy(res, opts)
	}
	if err != nil {
		return renderFail(stderr, err)
	}
	// Everything is in hand before anything is written: a failed render
	// leaves no partial output directory.
	module, err := loadModule(*wasmFile)
	if err != nil {
		return fail(stderr, err)
	}
	sum := *imageSha
	if sum == "" && strings.HasPrefix(*image, "https://") {
		h := sha256.Sum256(module)
		sum = hex.EncodeToString(h[:])
	}
	if target == "envoy-gateway" {
		if files, err = render.EnvoyGateway(res, opts, render.EnvoyGatewayOptions{Image: *image, Sha256: sum, Namespace: *namespace, Gateway: *gatewayName}); err != nil {
			return renderFail(stderr, err)
		}
	}
	if target == "istio" {
		labels := map[string]string{}
		for _, kv := range strings.Split(*selector, ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k != "" {
				labels[k] = v
			}
		}
		if files, err = render.Istio(res, opts, render.IstioOptions{Image: *image, Sha256: sum, Namespace: *namespace, Selector: labels}); err != nil {
			return renderFail(stderr, err)
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	files["keycard.wasm"] = module
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(stderr, err)
	}
	// A file that carries an HMAC secret compiled into the configuration
	// is readable by its owner only from its first byte, and the operator
	// is told. The module carries none.
	secrets := configSecrets(res.Config)
	var secretFiles []string
	for _, name := range append(names, "keycard.wasm") {
		path := filepath.Join(*out, name)
		secret := name != "keycard.wasm" && carriesSecret(files[name], secrets)
		if err := writeFile(path, files[name], stdout, secret); err != nil {
			return fail(stderr, err)
		}
		if secret {
			secretFiles = append(secretFiles, name)
		}
	}
	if err := writeStdout(stdout, []byte(fmt.Sprintf("wrote %s/{%s,keycard.wasm}\n", *out, strings.Join(names, ",")))); err != nil {
		return fail(stderr, err)
	}
	warnSecretFiles(stderr, "render", secretFiles)
	for _, line := range keySources(res.Config) {
		fmt.Fprintf(stderr, "keycard render: keys of %s\n", line)
	}
	if res.Config.HoldsRemoteKeys() {
		fmt.Fprintln(stderr, "keycard render: the sidecar holds keys for the filter: start it with --policy (this policy, or the rendered configuration) and, for run-time secrets, --secret-file NAME=PATH")
	}
	if d := opts.Defaulted(res); len(d) > 0 && target != "istio" && target != "envoy-gateway" {
		fmt.Fprintf(stderr, "keycard render: no --upstream for %d service(s), rendered with a default address: %s\n", len(d), strings.Join(d, ", "))
	}
	return 0
}

// renderFail reports a render error: 2 for what the command was given
// (a missing or malformed flag), 1 for the rest.
func renderFail(stderr io.Writer, err error) int {
	var usage *render.UsageError
	if errors.As(err, &usage) {
		fmt.Fprintln(stderr, "keycard render: "+err.Error())
		return 2
	}
	return fail(stderr, err)
}

// loadModule reads the module at path, or, when path is empty, this
// keycard's own.
func loadModule(path string) ([]byte, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := checkModule(path, data); err != nil {
			return nil, err
		}
		return data, nil
	}
	return filterModule()
}

// filterModule is the filter module: the one embedded in a release
// build, else build/keycard.wasm of the checkout the command runs in,
// built first when it is missing. A binary without either says how to
// get one.
func filterModule() ([]byte, error) {
	if len(embeddedModule) > 0 {
		return embeddedModule, nil
	}
	src := filepath.Join("build", "keycard.wasm")
	if _, err := os.Stat(src); err != nil {
		if _, err := os.Stat("go.mod"); err != nil {
			return nil, errors.New("this keycard was built without the filter module and is not running in a Keycard checkout: use a release build (make build embeds the module), run it from the checkout, or give --wasm FILE")
		}
		if err := os.MkdirAll("build", 0o755); err != nil {
			return nil, err
		}
		if err := wasmbuild.Build(".", "./filter/wasm", src); err != nil {
			return nil, fmt.Errorf("building the filter: %w", err)
		}
	}
	return os.ReadFile(src)
}

func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "13000000001", "subject (the policy's subject claim)")
	level := fs.Int("level", 1, "level claim")
	roles := fs.String("roles", "", "roles, comma-separated")
	ttl := fs.Duration("ttl", time.Hour, "lifetime (negative: already expired)")
	issuer := fs.String("issuer", "", "issuer name in the policy (default: the first JWT issuer)")
	key := fs.String("key", "", "private key (PKCS#8 PEM) of an asymmetric issuer")
	jti := fs.String("jti", "", "jti claim (default: random)")
	secrets := runtimeSecretFlag(fs)
	paths, code, ok := parseUsage(fs, args, stdout, stderr, someArgs, "usage: keycard token POLICY [--sub S] [--level N] [--roles a,b] [--ttl 1h] [--issuer NAME] [--key FILE]")
	if !ok {
		return code
	}
	secrets.use()
	res := compilePolicy(paths, (&compileFlags{}).settings(), stderr)
	if res == nil {
		return 1
	}
	if *level < 0 || *level > config.MaxLevel {
		fmt.Fprintf(stderr, "keycard token: --level %d: a level is 0 to %d (the filter refuses a token with any other)\n", *level, config.MaxLevel)
		return 2
	}
	c := mint.Claims{Subject: *sub, Level: *level, TTL: *ttl, JTI: *jti}
	if c.JTI == "" {
		c.JTI = mint.RandomID()
	}
	if *roles != "" {
		c.Roles = strings.Split(*roles, ",")
	}
	tok, err := mint.Token(res.Config, *issuer, *key, c, time.Now())
	if err != nil {
		return fail(stderr, err)
	}
	return writeOrFail(stdout, stderr, tok+"\n")
}
