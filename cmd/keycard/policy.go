package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/internal/mint"
	"github.com/keycard-gw/keycard/internal/policycases"
	"github.com/keycard-gw/keycard/sidecar"
	"github.com/keycard-gw/keycard/sidecar/envflag"
	"github.com/keycard-gw/keycard/sidecar/keyset"
)

// compileFlags are the deployment settings every compiling command takes.
type compileFlags struct {
	sidecar string
	timeout time.Duration
	gateway string
	key     string
}

func (c *compileFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.sidecar, "sidecar", "", "sidecar upstream: an Envoy cluster name or host:port for Kong (default keycard_sidecar)")
	fs.DurationVar(&c.timeout, "sidecar-timeout", 200*time.Millisecond, "timeout of the filter's call to the sidecar")
	fs.StringVar(&c.gateway, "gateway", "", "the gateway the filter configuration is for: kong or envoy (they present a request's host and path differently)")
	fs.StringVar(&c.key, "sidecar-key", "", "the gateway key the sidecar requires to read token state")
	envflag.Bind(fs, "sidecar-key", "KEYCARD_GATEWAY_KEY")
}

// check refuses a gateway key the sidecar would refuse, and a
// configuration for a gateway that asks the sidecar with no key to ask
// with (every such request would get 503).
func (c *compileFlags) check(res *compiler.Result, deploying bool) error {
	if c.key != "" && len(c.key) < config.MinKeyBytes {
		return fmt.Errorf("--sidecar-key is %d bytes: the sidecar takes gateway keys of at least %d", len(c.key), config.MinKeyBytes)
	}
	if deploying && res.Config.NeedsSidecar() && c.key == "" {
		return errors.New("the policy asks the sidecar for token state: give --sidecar-key (or $KEYCARD_GATEWAY_KEY), the sidecar's --gateway-key")
	}
	return nil
}

func (c *compileFlags) settings() compiler.Settings {
	return compiler.Settings{SidecarUp: c.sidecar, SidecarTimeout: c.timeout, Gateway: c.gateway, SidecarKey: c.key}
}

// compilePolicy compiles and prints findings (with source line and caret)
// to stderr. It returns nil when there were errors.
func compilePolicy(paths []string, s compiler.Settings, stderr io.Writer) *compiler.Result {
	res, err := compiler.CompileFiles(paths, s)
	if res != nil {
		for _, w := range res.Warnings {
			printFinding(stderr, w)
		}
	}
	var errs compiler.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			printFinding(stderr, e)
		}
		fmt.Fprintf(stderr, "%d error(s)\n", len(errs))
		return nil
	}
	if err != nil {
		fail(stderr, err)
		return nil
	}
	return res
}

// printFinding renders a finding with its source line and a caret under
// the column.
func printFinding(w io.Writer, e *compiler.Error) {
	fmt.Fprintln(w, e.Error())
	data, err := os.ReadFile(e.Pos.File)
	if err != nil {
		return
	}
	lines := strings.Split(string(data), "\n")
	if e.Pos.Line < 1 || e.Pos.Line > len(lines) {
		return
	}
	line := strings.TrimRight(lines[e.Pos.Line-1], "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	if !printable(line) {
		fmt.Fprintln(w, "    (the line is not shown: it holds bytes that are not text)")
		return
	}
	if len(line) > 200 {
		fmt.Fprintln(w, "    (the line is not shown: it is longer than 200 bytes)")
		return
	}
	fmt.Fprintf(w, "    %s\n", line)
	col := min(max(e.Pos.Col-1, 0), len(line))
	pad := strings.Map(func(r rune) rune {
		if r == '\t' {
			return '\t'
		}
		return ' '
	}, line[:col])
	fmt.Fprintf(w, "    %s^\n", pad)
}

func cmdCompile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compile", flag.ContinueOnError)
	out := fs.String("o", "", "output file (default: standard output for json and dump)")
	format := fs.String("format", "binary", "binary (the table), json (the filter configuration) or dump (readable table)")
	var cf compileFlags
	cf.register(fs)
	paths, code, ok := parseUsage(fs, args, stdout, stderr, someArgs, "keycard compile: give the policy's files or directory")
	if !ok {
		return code
	}
	if err := outputOverInput(*out, paths); err != nil {
		fmt.Fprintln(stderr, "keycard compile: "+err.Error())
		return 2
	}
	switch {
	case cf.gateway != "" && cf.gateway != config.GatewayKong && cf.gateway != config.GatewayEnvoy:
		fmt.Fprintf(stderr, "keycard compile: --gateway %q: kong or envoy\n", cf.gateway)
		return 2
	case *format == "json" && cf.gateway == "":
		fmt.Fprintln(stderr, "keycard compile: --format json needs --gateway kong or envoy: the filter reads the request's host and path where that gateway puts them")
		return 2
	}
	res := compilePolicy(paths, cf.settings(), stderr)
	if res == nil {
		return 1
	}
	if err := cf.check(res, *format == "json"); err != nil {
		fmt.Fprintln(stderr, "keycard compile: "+err.Error())
		return 2
	}
	var data []byte
	switch *format {
	case "binary":
		if *out == "" {
			fmt.Fprintln(stderr, "keycard compile: a binary table needs -o FILE")
			return 2
		}
		data = res.Config.Table
	case "json":
		var err error
		if data, err = json.MarshalIndent(res.Config, "", "  "); err != nil {
			return fail(stderr, err)
		}
		data = append(data, '\n')
	case "dump":
		data = []byte(res.Table.Dump())
	default:
		fmt.Fprintf(stderr, "keycard compile: unknown format %q (binary, json or dump)\n", *format)
		return 2
	}
	if *out == "" {
		*out = "-"
	}
	secret := *out != "-" && carriesSecret(data, configSecrets(res.Config))
	if err := writeFile(*out, data, stdout, secret); err != nil {
		return fail(stderr, err)
	}
	if secret {
		warnSecretFiles(stderr, "compile", []string{*out})
	}
	return 0
}

// writeOutput writes data where -o points: "-" is standard output; a
// regular file or a new path is written atomically (a temporary file in
// the same directory, then a rename), so a reader never sees half a
// table; a symlink is written through to its target the same way; any
// other existing file (a device, a pipe) is written in place; a
// directory is refused. Errors name the user's path.
func writeOutput(name string, data []byte, stdout io.Writer) error {
	return writeFile(name, data, stdout, false)
}

// outputOverInput refuses an output path that is one of the inputs or
// lands inside an input directory: `compile pc -o pc/shop.yaml` would
// replace the policy, `render -o pc` would write files the next `check
// pc` reads. Paths compare after symlinks are resolved (for an output
// that does not exist yet, its nearest existing parent's).
func outputOverInput(out string, inputs []string) error {
	if out == "" || out == "-" {
		return nil
	}
	o := resolved(out)
	for _, in := range inputs {
		i := resolved(in)
		if o == i {
			return fmt.Errorf("-o %s is the input %s: write the output elsewhere", out, in)
		}
		if fi, err := os.Stat(i); err == nil && fi.IsDir() {
			if rel, err := filepath.Rel(i, o); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return fmt.Errorf("-o %s lands inside the policy directory %s, whose files the next check reads: write the output elsewhere", out, in)
			}
		}
	}
	return nil
}

// resolved is a path made absolute with its symlinks resolved, as far as
// it exists.
func resolved(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for dir := abs; ; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest)
		}
		if dir == filepath.Dir(dir) {
			return abs
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// configSecrets are the secrets a filter configuration carries: the
// sidecar's gateway key and HMAC secrets compiled in.
func configSecrets(cfg *config.Config) [][]byte {
	var out [][]byte
	if cfg.Sidecar.Key != "" {
		out = append(out, []byte(cfg.Sidecar.Key))
	}
	for _, is := range cfg.Identity.Issuers {
		for _, k := range is.Keys {
			if k.Kty == "oct" && k.K != "" {
				out = append(out, []byte(k.K))
			}
		}
	}
	return out
}

// carriesSecret reports whether data holds one of secrets.
func carriesSecret(data []byte, secrets [][]byte) bool {
	for _, s := range secrets {
		if bytes.Contains(data, s) {
			return true
		}
	}
	return false
}

// warnSecretFiles tells the operator which files carry secrets, the same
// way in every command that writes them.
func warnSecretFiles(stderr io.Writer, command string, files []string) {
	if len(files) > 0 {
		fmt.Fprintf(stderr, "keycard %s: %s carry the policy's HMAC secret or the sidecar's gateway key (written 0600): keep them out of git and out of public artifact stores (secret: {runtime: NAME} keeps an HMAC secret in the sidecar instead)\n", command, strings.Join(files, ", "))
	}
}

// writeFile is writeOutput; with secret, a new or replaced file is
// readable by its owner only from its first byte (0600, an existing file
// narrowed to that too).
func writeFile(name string, data []byte, stdout io.Writer, secret bool) error {
	if name == "-" {
		return writeStdout(stdout, data)
	}
	target := name
	if fi, err := os.Lstat(name); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(name); err != nil {
			return fmt.Errorf("%s: a symlink to nothing", name)
		}
	}
	fi, err := os.Stat(target)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory: give a file name", name)
	case err == nil && !fi.Mode().IsRegular():
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("writing %s: %v", name, pathless(err))
		}
		_, werr := f.Write(data)
		cerr := f.Close()
		if werr != nil || cerr != nil {
			return fmt.Errorf("writing %s: %v", name, pathless(errors.Join(werr, cerr)))
		}
		return nil
	}
	mode := os.FileMode(0o644)
	switch {
	case secret:
		mode = 0o600
	case err == nil:
		mode = fi.Mode().Perm() // keep an existing file's permissions
	}
	if err := writeAtomic(target, data, mode); err != nil {
		return fmt.Errorf("writing %s: %v", name, pathless(err))
	}
	return nil
}

// writeAtomic writes a regular file through a temporary file beside it
// and a rename.
func writeAtomic(name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	// The mode is set before a byte is written (CreateTemp makes the
	// file 0600; a secret stays so), then the data.
	merr := f.Chmod(mode)
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(merr, werr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// pathless is an error without the path an *os.PathError or
// *os.LinkError carries (the temporary file's, which means nothing to
// the user).
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// writeStdout writes to standard output and reports a failed write (a
// full disk, a closed pipe): a command whose output was lost must not
// exit 0.
func writeStdout(stdout io.Writer, data []byte) error {
	if _, err := stdout.Write(data); err != nil {
		return fmt.Errorf("writing standard output: %v", pathless(err))
	}
	return nil
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	format := fs.String("format", formatText, "text (file:line:col with the source line), github (workflow commands that annotate the pull request) or json")
	paths, code, ok := parseUsage(fs, args, stdout, stderr, someArgs, "keycard check: give the policy's files or directory")
	if !ok {
		return code
	}
	if !validFormat(*format, formatText, formatGitHub, formatJSON) {
		fmt.Fprintf(stderr, "keycard check: --format %q: text, github or json\n", *format)
		return 2
	}
	if *format != formatText {
		res, err := compiler.CompileFiles(paths, compiler.Settings{})
		found, other := findingsOf(res, err)
		if other != nil {
			return fail(stderr, other)
		}
		var summary map[string]any
		if err == nil {
			routes := 0
			for _, s := range res.Policy.Services {
				routes += len(s.Routes)
			}
			summary = map[string]any{"policy": res.Policy.Name, "services": len(res.Policy.Services), "routes": routes,
				"roles": len(res.Policy.Roles), "warnings": len(res.Warnings), "table_bytes": len(res.Config.Table)}
		}
		if werr := writeFindings(stdout, *format, found, summary); werr != nil {
			return fail(stderr, werr)
		}
		if err != nil {
			return 1
		}
		return 0
	}
	res := compilePolicy(paths, compiler.Settings{}, stderr)
	if res == nil {
		return 1
	}
	routes := 0
	for _, s := range res.Policy.Services {
		routes += len(s.Routes)
	}
	line := fmt.Sprintf("%s: ok: %d services, %d routes, %d roles, %d warnings, table %d bytes\n",
		res.Policy.Name, len(res.Policy.Services), routes, len(res.Policy.Roles), len(res.Warnings), len(res.Config.Table))
	return writeOrFail(stdout, stderr, line)
}

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	level := fs.String("level", "0", "the caller's level: a number or a level name")
	roles := fs.String("roles", "", "the caller's roles, comma-separated")
	scopes := fs.String("scopes", "", "the OAuth scopes the caller's token grants, space- or comma-separated")
	claims := secretFiles{} // NAME=VALUE pairs
	fs.Var(claims, "claim", "PATH=VALUE: a claim of the caller's token that a condition or a forwarded header reads (repeatable)")
	subject := fs.String("subject", "explain", "the caller's subject")
	noToken := fs.Bool("no-token", false, "the request carries no token")
	origin := fs.String("origin", "", "the request's Origin: a cross-origin request (with OPTIONS and --request-method, a CORS preflight)")
	reqMethod := fs.String("request-method", "", "a preflight's Access-Control-Request-Method")
	reqHeaders := fs.String("request-headers", "", "a preflight's Access-Control-Request-Headers, comma-separated")
	pos, code, ok := parseUsage(fs, args, stdout, stderr, func(pos []string) bool { return len(pos) == 4 },
		"usage: keycard explain POLICY METHOD HOST PATH [--level N] [--roles a,b] [--no-token] [--origin URL [--request-method M] [--request-headers a,b]]")
	if !ok {
		return code
	}
	res := compilePolicy(pos[:1], compiler.Settings{}, stderr)
	if res == nil {
		return 1
	}
	e, err := filter.New(res.Config, res.Table, time.Now)
	if err != nil {
		return fail(stderr, err)
	}
	var id *token.Identity
	if !*noToken {
		lv, err := strconv.Atoi(*level)
		if err == nil && (lv < 0 || lv > config.MaxLevel) {
			fmt.Fprintf(stderr, "keycard explain: --level %d: a level is 0 to %d (the filter refuses a token with any other)\n", lv, config.MaxLevel)
			return 2
		}
		if err != nil {
			lv = -1
			for _, l := range res.Config.Levels {
				if l.Name == *level {
					lv = l.Value
				}
			}
			if lv < 0 {
				fmt.Fprintf(stderr, "keycard explain: unknown level %q\n", *level)
				return 2
			}
		}
		id = &token.Identity{Issuer: "explain", Subject: *subject, Level: lv}
		if *roles != "" {
			id.Roles = strings.Split(*roles, ",")
		}
		id.Scopes = strings.FieldsFunc(*scopes, func(r rune) bool { return r == ' ' || r == ',' })
		paths := e.Verifier().Extra()
		id.Extra, id.ExtraList = make([]string, len(paths)), make([]bool, len(paths))
		for i, p := range paths {
			id.Extra[i] = claims[p]
		}
		for p := range claims {
			if !slices.Contains(paths, p) {
				fmt.Fprintf(stderr, "keycard explain: --claim %s: no condition or forwarded header of the policy reads it\n", p)
				return 2
			}
		}
	}
	var headers filter.HeaderList
	for _, h := range [][2]string{{"origin", *origin}, {"access-control-request-method", *reqMethod}, {"access-control-request-headers", *reqHeaders}} {
		if h[1] != "" {
			headers = append(headers, h)
		}
	}
	req := &filter.Request{Method: pos[1], Authority: pos[2], Path: pos[3], Headers: headers}
	d := e.DecideAs(req, id)
	var b strings.Builder // written at once: a failed write is an error, not a half answer
	fmt.Fprintf(&b, "request   %s %s %s\n", pos[1], pos[2], pos[3])
	for _, h := range headers {
		fmt.Fprintf(&b, "header    %s: %s\n", h[0], h[1])
	}
	if id == nil {
		fmt.Fprintln(&b, "identity  no token")
	} else {
		fmt.Fprintf(&b, "identity  level %d, roles [%s]\n", id.Level, strings.Join(id.Roles, ","))
		if len(id.Scopes) > 0 {
			fmt.Fprintf(&b, "scopes    %s\n", strings.Join(id.Scopes, " "))
		}
		for _, p := range slices.Sorted(maps.Keys(claims)) {
			fmt.Fprintf(&b, "claim     %s = %q\n", p, claims[p])
		}
		for _, line := range keySources(res.Config) {
			fmt.Fprintf(&b, "keys      %s\n", line)
		}
	}
	svc := d.Service
	if svc == "" {
		svc = "none"
	}
	fmt.Fprintf(&b, "service   %s\n", svc)
	if d.Route >= 0 {
		fmt.Fprintf(&b, "route     %s\n", routeAt(res.Policy, d.Service, d.RouteLine))
	} else {
		fmt.Fprintln(&b, "route     none")
	}
	status := d.Status
	if d.Allow && !d.Shadow {
		status = 200
	}
	if d.Answered {
		fmt.Fprintln(&b, "answer    the filter answers this CORS preflight itself; it never reaches the upstream")
	} else if d.Allow && d.Reason == filter.ReasonPreflight {
		fmt.Fprintln(&b, "answer    the service takes its own preflights: sent on to the upstream, without a body")
	}
	if d.Shadow {
		fmt.Fprintln(&b, "mode      shadow: the denial below is logged and counted, and the request let through")
	}
	fmt.Fprintf(&b, "decision  %d %s", status, d.Reason)
	if d.Detail != "" {
		fmt.Fprintf(&b, " (%s)", d.Detail)
	}
	fmt.Fprintln(&b)
	for _, kv := range d.Set {
		fmt.Fprintf(&b, "forward   %s: %s\n", kv[0], kv[1])
	}
	for _, kv := range d.CORS {
		fmt.Fprintf(&b, "cors      %s: %s\n", kv[0], kv[1])
	}
	return writeOrFail(stdout, stderr, b.String())
}

func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "print every case")
	format := fs.String("format", formatText, "text or json (every case with its outcome)")
	junitFile := fs.String("junit", "", "also write a JUnit XML report to this file")
	secrets := runtimeSecretFlag(fs)
	jwks := secretFiles{}
	fs.Var(jwks, "jwks", "ISSUER=FILE: the keys of an issuer the sidecar fetches (jwks.url, oidc), from a JWKS file (repeatable)")
	fetchKeys := fs.Bool("fetch-keys", false, "fetch the keys of jwks.url and oidc issuers without --jwks from their providers, as the sidecar does")
	caFile := fs.String("ca-file", "", "PEM file of CA certificates trusted for --fetch-keys, besides the system's")
	paths, ok := parseArgs(fs, args, stdout, stderr)
	if !ok {
		return exitCode(fs)
	}
	secrets.use()
	if !validFormat(*format, formatText, formatJSON) {
		fmt.Fprintf(stderr, "keycard test: --format %q: text or json\n", *format)
		return 2
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	// A cases file given by name is tested against the policy in its
	// directory, unless policy paths are given too.
	var policy []string
	for _, p := range paths {
		if !strings.HasSuffix(p, ".cases.yaml") && !strings.HasSuffix(p, ".cases.yml") {
			policy = append(policy, p)
		}
	}
	if len(policy) == 0 {
		for _, p := range paths {
			if d := filepath.Dir(p); !slices.Contains(policy, d) {
				policy = append(policy, d)
			}
		}
	}
	res := compilePolicy(policy, compiler.Settings{}, stderr)
	if res == nil {
		return 1
	}
	files, err := policycases.Files(paths)
	if err != nil {
		return fail(stderr, err)
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "keycard test: no *.cases.yaml files")
		return 1
	}
	cases, err := policycases.Load(files)
	var errs compiler.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			printFinding(stderr, e)
		}
		fmt.Fprintf(stderr, "%d error(s)\n", len(errs))
		return 1
	}
	if err != nil {
		return fail(stderr, err)
	}
	e, err := filter.New(res.Config, res.Table, time.Now)
	if err != nil {
		return fail(stderr, err)
	}
	sources := policycases.KeySources{Secret: mint.RuntimeSecret, Files: jwks}
	if *fetchKeys {
		if sources.Fetch, err = keyFetcher(res.Config, *caFile); err != nil {
			return fail(stderr, err)
		}
	}
	if err := policycases.HoldKeys(e, res.Config, sources); err != nil {
		return fail(stderr, err)
	}
	fails := policycases.Run(cases, res.Config, policycases.Native(e, policycases.Static), time.Now())
	results := caseResults(cases, fails)
	if *junitFile != "" {
		data, err := junit(results)
		if err == nil {
			err = writeOutput(*junitFile, data, stdout)
		}
		if err != nil {
			return fail(stderr, err)
		}
	}
	if *format == formatJSON {
		data, err := json.MarshalIndent(map[string]any{"passed": len(cases) - len(fails), "failed": len(fails), "cases": results}, "", "  ")
		if err != nil {
			return fail(stderr, err)
		}
		if err := writeStdout(stdout, append(data, '\n')); err != nil {
			return fail(stderr, err)
		}
		if len(fails) > 0 {
			return 1
		}
		return 0
	}
	failed := map[*policycases.Case]bool{}
	var b strings.Builder // written at once: a failed write is an error, not a pass
	for _, f := range fails {
		fmt.Fprintln(&b, "FAIL", f)
		failed[f.Case] = true
	}
	if *verbose {
		for i := range cases {
			if !failed[&cases[i]] {
				fmt.Fprintf(&b, "ok   %s:%d: %s\n", cases[i].File, cases[i].Line, cases[i].Name)
			}
		}
	}
	if len(fails) > 0 {
		fmt.Fprintf(&b, "FAIL: %d of %d cases\n", len(fails), len(cases))
		if code := writeOrFail(stdout, stderr, b.String()); code != 0 {
			return code
		}
		return 1
	}
	fmt.Fprintf(&b, "PASS: %d cases\n", len(cases))
	return writeOrFail(stdout, stderr, b.String())
}

// keyFetcher fetches an issuer's key set with the sidecar's own code, so
// that keycard test --fetch-keys takes the keys the sidecar would.
func keyFetcher(cfg *config.Config, caFile string) (func(string) ([]config.Key, error), error) {
	client, err := sidecar.KeyClient(caFile)
	if err != nil {
		return nil, err
	}
	var srcs []keyset.Source
	for _, is := range cfg.Identity.Issuers {
		if is.Remote != nil && is.Remote.URL() != "" {
			r := *is.Remote
			r.Secret = "" // run-time secrets come from --secret-file
			srcs = append(srcs, keyset.Source{Issuer: is.Name, Remote: r, Algorithms: is.Algorithms})
		}
	}
	sets := keyset.New(srcs, client, time.Now, slog.New(slog.DiscardHandler))
	return func(issuer string) ([]config.Key, error) {
		ks, err := sets.Get(context.Background(), issuer, "")
		if err != nil {
			return nil, err
		}
		return ks.Keys, nil
	}, nil
}

// routeAt finds the matched route as written: the table keeps only its
// line.
func routeAt(p *compiler.Policy, service string, line int) string {
	for _, s := range p.Services {
		if s.Name != service {
			continue
		}
		for _, r := range s.Routes {
			if r.Node.Line == line {
				pos := s.Pos(r.Node)
				return fmt.Sprintf("%s (%s:%d)", r.Path.Value, pos.File, pos.Line)
			}
		}
	}
	return fmt.Sprintf("line %d", line)
}

// printable reports whether a source line is text a terminal shows as
// it is: valid UTF-8 without control characters other than tabs.
func printable(line string) bool {
	if !utf8.ValidString(line) {
		return false
	}
	for _, r := range line {
		if r < ' ' && r != '\t' || r == 0x7f || unicode.Is(unicode.Cc, r) && r != '\t' {
			return false
		}
	}
	return true
}
