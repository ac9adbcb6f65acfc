package compiler

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/table"
	"gopkg.in/yaml.v3"
)

// Settings are the deployment inputs that are not part of the policy.
type Settings struct {
	Env            Env           // environment for secrets; nil means os.LookupEnv
	SidecarUp      string        // Envoy cluster name or host:port; default "keycard_sidecar"
	SidecarTimeout time.Duration // default 200ms
	SidecarKey     string        // the gateway key the sidecar requires on /v1/state
	NoMetrics      bool          // leave proxy-wasm metrics off (hosts that lack them)
	// Gateway is the proxy-wasm host the configuration is for
	// (config.GatewayKong or config.GatewayEnvoy). The filter refuses a
	// configuration without one; native decisions do not need it.
	Gateway string
}

// Result is a compiled policy.
type Result struct {
	Policy   *Policy
	Table    *table.Table
	Config   *config.Config
	Warnings Errors
}

// IsPolicyFile reports whether a file in a policy directory belongs to the
// policy: YAML that is not a test-case file.
func IsPolicyFile(name string) bool {
	ext := filepath.Ext(name)
	return (ext == ".yaml" || ext == ".yml") && !strings.HasSuffix(strings.TrimSuffix(name, ext), ".cases")
}

// Files expands the command line's paths: directories give their policy
// files (not recursively), sorted; files are taken as they are.
func Files(paths []string) ([]string, error) {
	out, empty, err := FilesIn(paths, IsPolicyFile)
	switch {
	case err != nil:
		return nil, err
	case len(empty) > 0:
		return nil, fmt.Errorf("%s: no policy files (*.yaml, *.yml)", empty[0])
	case len(out) == 0:
		return nil, errors.New("no policy files given")
	}
	return out, nil
}

// FilesIn expands paths: a directory gives the regular files in it, or
// links to regular files (not recursively, sorted by name), that keep
// accepts; a file is taken as it is. empty lists the directories that
// gave none.
func FilesIn(paths []string, keep func(name string) bool) (files, empty []string, err error) {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, nil, err
		}
		n := len(files)
		for _, e := range entries {
			if !keep(e.Name()) {
				continue
			}
			name := filepath.Join(p, e.Name())
			regular := e.Type().IsRegular()
			if e.Type()&fs.ModeSymlink != 0 {
				// A link counts as the file it names: Kubernetes mounts a
				// ConfigMap's files as links. One that names nothing is
				// an error, not a file quietly left out.
				st, err := os.Stat(name)
				if err != nil {
					return nil, nil, err
				}
				regular = st.Mode().IsRegular()
			}
			if regular {
				files = append(files, name)
			}
		}
		if len(files) == n {
			empty = append(empty, p)
		}
	}
	return files, empty, nil
}

// CompileFiles reads and compiles the policy made of the given files and
// directories. On failure the error is an Errors (findings with
// positions) or a plain error (a file that cannot be read).
func CompileFiles(paths []string, s Settings) (*Result, error) {
	files, err := Files(paths)
	if err != nil {
		return nil, err
	}
	srcs := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs[f] = data
	}
	return Compile(files, srcs, s)
}

// Compile compiles the policy made of the given sources, in order.
func Compile(files []string, srcs map[string][]byte, s Settings) (*Result, error) {
	c := &compilation{env: s.Env, settings: s, p: &Policy{defined: map[string]Pos{}}}
	if c.env == nil {
		c.env = os.LookupEnv
	}
	for _, f := range files {
		d := &decoder{file: f, errs: &c.errs}
		if e := notText(f, srcs[f]); e != nil {
			c.errs = append(c.errs, e)
			continue
		}
		var root yaml.Node
		if err := yaml.Unmarshal(srcs[f], &root); err != nil {
			c.errs = append(c.errs, yamlError(f, srcs[f], err))
			continue
		}
		c.p.parseFile(d, filepath.Dir(f), &root)
	}
	if len(c.errs) == 0 {
		c.check(files)
	}
	var errs, warns Errors
	for _, e := range c.errs {
		if e.Warning {
			warns = append(warns, e)
		} else {
			errs = append(errs, e)
		}
	}
	warns.sort()
	if len(errs) > 0 {
		errs.sort()
		if len(errs) > MaxErrors {
			errs = errs[:MaxErrors]
		}
		return &Result{Policy: c.p, Warnings: warns}, errs
	}
	tb, err := table.Build(&c.spec)
	if err != nil {
		return nil, err
	}
	c.cfg.Table = tb.Encode()
	if _, err := c.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("internal error: the compiled configuration does not validate: %w", err)
	}
	return &Result{Policy: c.p, Table: tb, Config: &c.cfg, Warnings: warns}, nil
}

// notText refuses a file that is empty or not UTF-8 text (a binary file
// named .yaml), positioned at the first offending byte.
func notText(file string, src []byte) *Error {
	if len(bytes.TrimSpace(src)) == 0 {
		return &Error{Pos: Pos{file, 1, 1}, Msg: "the file is empty: a policy file holds at least version: 1"}
	}
	line, col := 1, 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 || r == 0 || r < ' ' && r != '\t' && r != '\n' && r != '\r' {
			return &Error{Pos: Pos{file, line, col}, Msg: "not a text file: a policy is UTF-8 YAML, and this byte is not text"}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return nil
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into a
// positioned finding. yaml.v3 gives a line and no column, and for an
// unclosed flow collection the line of the token before the problem, so
// the position is derived where the source shows it (the bracket that is
// not closed), and said to be "near" otherwise.
func yamlError(file string, src []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if _, e := fmt.Sscanf(rest[:i], "%d", &line); e == nil {
				msg = rest[i+2:]
			}
		}
	}
	if strings.Contains(msg, "did not find expected ',' or") || strings.Contains(msg, "did not find expected node content") {
		if l, c, ok := unclosedBracket(src); ok {
			return &Error{Pos: Pos{file, l, c}, Msg: "invalid YAML: this bracket is not closed (" + msg + ")"}
		}
	}
	if line < 1 {
		return &Error{Pos: Pos{file, 1, 1}, Msg: "invalid YAML: " + msg}
	}
	return &Error{Pos: Pos{file, line, 1}, Msg: fmt.Sprintf("invalid YAML near line %d: %s", line, msg)}
}

// unclosedBracket finds a flow collection ('[' or '{') that a later line
// at its indentation or less abandons, or the file ends inside: the
// bracket's line and column. Quoted scalars and comments are skipped.
func unclosedBracket(src []byte) (line, col int, ok bool) {
	type open struct{ line, col, indent int }
	var stack []open
	lines := strings.Split(string(src), "\n")
	for n, text := range lines {
		indent := len(text) - len(strings.TrimLeft(text, " "))
		trimmed := strings.TrimSpace(text)
		if len(stack) > 0 && trimmed != "" && !strings.HasPrefix(trimmed, "#") && indent <= stack[0].indent {
			return stack[0].line, stack[0].col, true
		}
		quote := byte(0)
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '#' && (i == 0 || text[i-1] == ' '):
				i = len(text)
			case c == '[' || c == '{':
				stack = append(stack, open{n + 1, i + 1, indent})
			case (c == ']' || c == '}') && len(stack) > 0:
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) > 0 {
		return stack[0].line, stack[0].col, true
	}
	return 0, 0, false
}

type compilation struct {
	env      Env
	settings Settings
	p        *Policy
	errs     Errors
	spec     table.Spec
	cfg      config.Config
}

func (c *compilation) warnf(d *decoder, n *yaml.Node, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...), Warning: true})
}

func (c *compilation) check(files []string) {
	p := c.p
	first := &decoder{file: files[0], errs: &c.errs}
	top := &yaml.Node{Line: 1, Column: 1}
	if p.Name == "" {
		first.errorf(top, "policy: needs a name")
	}
	if p.Identity == nil {
		first.errorf(top, "policy: needs an identity section")
		return
	}
	if len(p.Levels) == 0 {
		first.errorf(top, "policy: needs levels")
		return
	}
	if len(p.Services) == 0 {
		first.errorf(top, "policy: needs services")
		return
	}
	c.cfg = config.Config{Version: config.Version, Policy: p.Name, Gateway: c.settings.Gateway}
	c.identity()
	levels := c.levels()
	roleIdx := c.roles()
	c.services(levels, roleIdx)

	c.cfg.Sessions = config.Sessions{State: cmpOr(p.Sessions.State, "none"), CacheMillis: int(p.Sessions.Cache / time.Millisecond), OnErrorAllow: p.Sessions.OnError == "allow"}
	if _, set := p.defined["options"]; set {
		c.cfg.Options.Preflight = p.Options.Preflight
	} else {
		c.cfg.Options.Preflight = true
	}
	c.cfg.Options.AllowEncodedPath = p.Options.AllowEncodedPath
	c.cfg.Options.LenientPaths = p.Options.LenientPaths
	c.cfg.Options.PassHeaders = p.Options.PassHeaders
	c.cfg.Shadow = p.Mode == "shadow"
	c.cfg.Options.ShadowHeader = p.Options.ShadowHeader
	c.cfg.Options.Metrics = !c.settings.NoMetrics
	c.cfg.Options.MaxTokenBytes = cmpOr(p.Options.MaxTokenBytes, config.DefaultMaxTokenBytes)
	c.cfg.Options.TokenCacheSize = config.DefaultTokenCacheSize
	c.cfg.Sidecar = config.Sidecar{
		Upstream:      cmpOr(c.settings.SidecarUp, "keycard_sidecar"),
		TimeoutMillis: int(cmpOr(c.settings.SidecarTimeout, 200*time.Millisecond) / time.Millisecond),
		Key:           c.settings.SidecarKey,
	}
	if p.Sessions.State == "sidecar" && p.Sessions.Cache == 0 {
		c.cfg.Sessions.CacheMillis = 2000
	}
	c.cors()
}

// cors turns the cross-origin rules into the configuration's, checking
// each with its position, and warns when preflights would now be refused
// for want of any rule.
func (c *compilation) cors() {
	p := c.p
	add := func(def *CORSDef, service string, line int, route string) {
		if def == nil {
			return
		}
		d, what := def.dec, "cors"
		rule := config.CORS{Service: service, Line: line, Route: route, Credentials: def.Credentials, MaxAgeSeconds: int(def.MaxAge / time.Second), ForwardPreflight: def.ForwardPreflight}
		ok := true
		for _, o := range def.Origins {
			if err := config.CheckOrigin(o.Value); err != nil {
				d.errorf(o.Node, "%s: %v", what, err)
				ok = false
			}
			if o.Value == "*" && def.Credentials {
				d.errorf(o.Node, `%s: origin "*" with credentials: browsers refuse it; list the origins`, what)
				ok = false
			}
			rule.Origins = append(rule.Origins, o.Value)
		}
		for _, m := range def.Methods {
			if table.ParseMethod(m.Value) == 0 {
				d.errorf(m.Node, "%s: method %q is not one of %s%s", what, m.Value, strings.Join(table.MethodNames(), " "), suggest(strings.ToUpper(m.Value), table.MethodNames()))
				ok = false
			}
			rule.Methods = append(rule.Methods, m.Value)
		}
		for _, h := range def.Headers {
			if !config.IsToken(h.Value) {
				d.errorf(h.Node, "%s: %q is not a valid header name", what, h.Value)
				ok = false
			}
			rule.Headers = append(rule.Headers, strings.ToLower(h.Value))
		}
		for _, h := range def.Expose {
			if !config.IsToken(h.Value) {
				d.errorf(h.Node, "%s: %q is not a valid header name", what, h.Value)
				ok = false
			}
			rule.Expose = append(rule.Expose, h.Value)
		}
		if def.ForwardPreflight && (service == "" || line != 0) {
			d.errorf(def.Node, "%s: forward_preflight is a service's choice, not the policy's or a route's", what)
			ok = false
		}
		if ok {
			c.cfg.CORS = append(c.cfg.CORS, rule)
		}
	}
	add(p.CORS, "", 0, "")
	hasRule := p.CORS != nil
	for si := range p.Services {
		s := &p.Services[si]
		add(s.CORS, s.Name, 0, "")
		hasRule = hasRule || s.CORS != nil
		for ri := range s.Routes {
			r := &s.Routes[ri]
			add(r.CORS, s.Name, r.Node.Line, r.Path.Value+" "+table.WithHead(methodsOf(r)).String())
			hasRule = hasRule || r.CORS != nil
		}
	}
	if !hasRule && c.cfg.Options.Preflight && len(p.Services) > 0 {
		s := &p.Services[0]
		c.warnf(s.dec, s.Node, "no cors rule: the filter answers CORS preflights itself, and without a rule every preflight gets 403 cors_not_allowed (before, they were let through to the upstream); add cors: {origins: [...]} to the policy or a service, or options.preflight: false to decide OPTIONS like any method")
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *compilation) identity() {
	id := c.p.Identity
	d := id.dec
	cfg := &c.cfg.Identity
	if len(id.Sources) == 0 {
		cfg.Token = []config.TokenSource{{Header: "Authorization", Scheme: "Bearer"}}
	}
	for _, s := range id.Sources {
		cfg.Token = append(cfg.Token, config.TokenSource(s))
	}
	if len(id.Issuers) == 0 {
		d.errorf(id.Node, "identity: needs at least one issuer")
	}
	names := map[string]*yaml.Node{}
	var nodes []*yaml.Node // each compiled issuer's definition
	for i := range id.Issuers {
		is := &id.Issuers[i]
		if prev, ok := names[is.Name]; ok && is.Name != "" {
			d.errorf(is.Node, "issuer %s: defined twice (first at %s)", is.Name, d.pos(prev))
			continue
		}
		names[is.Name] = is.Node
		keys, remote := c.keys(id, is)
		var algs []string
		for _, a := range is.Algorithms {
			if alg := config.CanonicalAlgorithm(a.Value); !slices.Contains(algs, alg) {
				algs = append(algs, alg)
			}
		}
		cfg.Issuers = append(cfg.Issuers, config.Issuer{
			Name: is.Name, Kind: is.Kind, Issuer: is.Issuer, Audiences: is.Audiences,
			Algorithms: algs, RequireExp: is.RequireExp, TokenType: is.TokenType, Keys: keys, Remote: remote,
		})
		if strings.Contains(is.Issuer, "{tenant}") || len(is.Tenants) > 0 {
			switch {
			case strings.Count(is.Issuer, "{tenant}") != 1:
				d.errorf(is.Node, "issuer %s: tenants need an issuer URL with {tenant} once, as Entra ID's https://login.microsoftonline.com/{tenant}/v2.0", is.Name)
			case len(is.Tenants) == 0:
				d.errorf(is.Node, "issuer %s: an issuer URL with {tenant} needs tenants: the allowed tenants' ids (any tenant of the provider would be anyone)", is.Name)
			default:
				var list []string
				for _, t := range is.Tenants {
					if t.Value == "" || strings.ContainsAny(t.Value, "/?#{} ") {
						d.errorf(t.Node, "issuer %s: tenant %q is not a tenant id", is.Name, t.Value)
						continue
					}
					list = append(list, strings.Replace(is.Issuer, "{tenant}", t.Value, 1))
				}
				cfg.Issuers[len(cfg.Issuers)-1].Issuers = list
			}
		}
		if l := is.LevelsFrom; l != nil {
			lf := &config.LevelsFrom{Source: l.Source, Values: map[string]int{}}
			levels := c.levels()
			for value, lv := range l.Values {
				n, found := levels[lv.Value]
				if !found {
					var err error
					if n, err = strconv.Atoi(lv.Value); err != nil || n < 0 || n > config.MaxLevel {
						d.errorf(lv.Node, "issuer %s: levels_from.%s.%s: %q is no level name nor 0 to %d", is.Name, l.Source, value, lv.Value, config.MaxLevel)
						continue
					}
				}
				lf.Values[value] = n
			}
			cfg.Issuers[len(cfg.Issuers)-1].LevelsFrom = lf
		}
		if len(is.Claims) > 0 {
			cfg.Issuers[len(cfg.Issuers)-1].Claims = &config.Claims{Level: is.Claims["level"], Roles: is.Claims["roles"], Scopes: is.Claims["scopes"]}
		}
		if is.Kind == config.KindJWT && len(is.Audiences) == 0 {
			c.warnf(d, is.Node, "issuer %s: no audiences: every token its keys sign passes, whichever client or API it was issued for; name this API's audience (audiences: [...])", is.Name)
		}
		if is.OIDC != nil && is.Issuer == "" && remote != nil {
			// The provider's tokens carry its issuer URL as iss (OpenID
			// Connect Discovery 1.0 section 4.3): check it.
			cfg.Issuers[len(cfg.Issuers)-1].Issuer = remote.OIDCIssuer
		}
		nodes = append(nodes, is.Node)
	}
	c.sharedKeys(d, cfg.Issuers, nodes)
	cfg.LeewaySeconds = int(id.Leeway / time.Second)
	cfg.Claims = config.Claims{
		Subject: cmpOr(id.Claims["subject"], "sub"),
		Level:   cmpOr(id.Claims["level"], "level"),
		Roles:   cmpOr(id.Claims["roles"], "roles"),
		Scopes:  id.Claims["scopes"],
	}
	for _, f := range id.Forward {
		cfg.Forward = append(cfg.Forward, config.Forward{Header: f.Header, Field: f.Field, Claim: f.Claim})
	}
	slices.SortFunc(cfg.Forward, func(a, b config.Forward) int {
		return strings.Compare(strings.ToLower(a.Header), strings.ToLower(b.Header))
	})
	for i := 1; i < len(cfg.Forward); i++ {
		if strings.EqualFold(cfg.Forward[i-1].Header, cfg.Forward[i].Header) {
			d.errorf(id.Node, "identity.forward: header %s given twice (header names ignore case)", cfg.Forward[i].Header)
		}
	}
}

// sharedKeys warns about issuers that share a key and accept the same
// iss: the filter selects issuers by the token's iss and tries each
// whose keys verify it, in policy order, so a token both accept takes
// the first one's name, levels and state. Issuers that share keys but
// name different iss values (Entra ID's v1 and v2), or audiences that do
// not overlap (two APIs of one provider), are told apart.
func (c *compilation) sharedKeys(d *decoder, issuers []config.Issuer, nodes []*yaml.Node) {
	sources := func(is *config.Issuer) []string {
		var out []string
		for _, k := range is.Keys {
			k.Kid = ""
			out = append(out, fmt.Sprint(k))
		}
		if is.Remote != nil && is.Remote.URL() != "" {
			out = append(out, is.Remote.URL())
		}
		return out
	}
	for i := range issuers {
		for j := 0; j < i; j++ {
			a, b := &issuers[j], &issuers[i]
			if a.Kind != config.KindJWT || b.Kind != config.KindJWT || a.Issuer != b.Issuer {
				continue
			}
			if len(a.Audiences) > 0 && len(b.Audiences) > 0 && !slices.ContainsFunc(a.Audiences, func(x string) bool { return slices.Contains(b.Audiences, x) }) {
				continue // told apart by aud: two APIs of one provider
			}
			shared := slices.ContainsFunc(sources(a), func(s string) bool { return slices.Contains(sources(b), s) })
			if shared {
				c.warnf(d, nodes[i], "issuers %s and %s share keys and accept the same iss: a token both accept is taken as %s's (the first in the policy); give each its issuer, or audiences that do not overlap", a.Name, b.Name, a.Name)
			}
		}
	}
}

func (c *compilation) levels() map[string]int {
	out := map[string]int{}
	for _, l := range c.p.Levels {
		out[l.Name] = l.Value
		c.cfg.Levels = append(c.cfg.Levels, config.Level{Name: l.Name, Value: l.Value})
	}
	slices.SortFunc(c.cfg.Levels, func(a, b config.Level) int { return a.Value - b.Value })
	return out
}

// roles checks role definitions and their permissions and returns each
// role's index in spec.Roles.
func (c *compilation) roles() map[string]int {
	idx := map[string]int{}
	defs := map[string]Pos{}
	for i := range c.p.Roles {
		r := &c.p.Roles[i]
		d := r.dec
		if prev, ok := defs[r.Name]; ok {
			d.errorf(r.Node, "role %s: defined twice (first at %s)", r.Name, prev)
			continue
		}
		defs[r.Name] = d.pos(r.Node)
		if !isRoleName(r.Name) {
			d.errorf(r.Node, "role %q: a role name is letters, digits, and . _ : -", r.Name)
			continue
		}
		if len(c.spec.Roles) == table.MaxRoles {
			d.errorf(r.Node, "role %s: more than %d roles", r.Name, table.MaxRoles)
			continue
		}
		idx[r.Name] = len(c.spec.Roles)
		c.spec.Roles = append(c.spec.Roles, r.Name)
		var bits table.RoleBits
		bits.Set(idx[r.Name])
		perLine := map[int]int{} // permissions by line: a scoped one is named by its line
		for _, perm := range r.Perms {
			perLine[perm.Node.Line]++
		}
		for _, perm := range r.Perms {
			pm, msg := parsePermission(perm.Value)
			if msg != "" {
				d.errorf(perm.Node, "role %s: permission %q: %s", r.Name, perm.Value, msg)
				continue
			}
			c.spec.Grants = append(c.spec.Grants, table.GrantSpec{Pattern: perm.Value, Segments: pm.segs, Regex: pm.regex, Methods: pm.methods, Roles: bits, Line: perm.Node.Line})
			if len(perm.Scopes)+len(perm.AnyOf) == 0 {
				continue
			}
			switch {
			case pm.regex != "":
				d.errorf(perm.Node, "role %s: permission %q: scopes on a re: permission are not supported; write it as a path pattern", r.Name, perm.Value)
				continue
			case perLine[perm.Node.Line] > 1:
				d.errorf(perm.Node, "role %s: permission %q: a permission with scopes needs a line of its own", r.Name, perm.Value)
				continue
			}
			c.cfg.Scopes = append(c.cfg.Scopes, config.Scopes{Role: r.Name, Line: perm.Node.Line, Route: perm.Value, All: refValues(perm.Scopes), Any: refValues(perm.AnyOf)})
		}
	}
	return idx
}

func isRoleName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:-", c) >= 0) {
			return false
		}
	}
	return true
}

// mountAt is a mount with the service and node that declared it.
type mountAt struct {
	table.Mount
	svc *Service
	n   *yaml.Node
}

func (c *compilation) services(levels map[string]int, roleIdx map[string]int) {
	levelNames := make([]string, 0, len(levels))
	for n := range levels {
		levelNames = append(levelNames, n)
	}
	slices.Sort(levelNames)
	roleNames := slices.Clone(c.spec.Roles)
	names := map[string]*Service{}
	var mounts []mountAt
	for si := range c.p.Services {
		s := &c.p.Services[si]
		d := s.dec
		if prev, ok := names[s.Name]; ok {
			d.errorf(s.Node, "service %s: defined twice (first at %s)", s.Name, prev.dec.pos(prev.Node))
			continue
		}
		names[s.Name] = s
		spec := table.ServiceSpec{Name: s.Name}
		switch s.Default {
		case "not_found":
			spec.Default = table.DefaultNotFound
		case "allow":
			spec.Default = table.DefaultAllow
		}
		for _, h := range s.Hosts {
			if scheme, _, ok := strings.Cut(h.Value, "://"); ok {
				d.errorf(h.Node, "service %s: host %q: a host is a name, not a URL: drop %s:// (a path prefix may follow the name: api.shop.example/a)", s.Name, h.Value, scheme)
				continue
			}
			host, prefix, _ := strings.Cut(h.Value, "/")
			prefix = "/" + prefix
			if prefix == "/" {
				prefix = s.Prefix
			} else if msg := checkPrefix(prefix); msg != "" {
				d.errorf(h.Node, "service %s: host %q: prefix %s", s.Name, h.Value, msg)
				continue
			}
			host, msg := checkHost(host)
			if msg != "" {
				d.errorf(h.Node, "service %s: host %q %s", s.Name, h.Value, msg)
				continue
			}
			m := table.Mount{Host: host, Prefix: prefix}
			dup := false
			for _, o := range mounts {
				if o.Mount == m {
					d.errorf(h.Node, "service %s: host %s prefix %s is already served by service %s (%s)", s.Name, host, prefix, o.svc.Name, o.svc.dec.pos(o.n))
					dup = true
				}
			}
			if !dup {
				mounts = append(mounts, mountAt{m, s, h.Node})
				spec.Mounts = append(spec.Mounts, m)
			}
		}
		for _, w := range s.When {
			if w.Param != "" {
				d.errorf(w.Node, "service %s: when %s: a service's condition names no path parameter (give it on the route)", s.Name, w.Claim)
				continue
			}
			c.cfg.Conditions = append(c.cfg.Conditions, config.Condition{Service: s.Name, Claim: w.Claim, OneOf: w.OneOf, Contains: w.Contains})
		}
		seen := make(map[string][]*Route, len(s.Routes)) // by canonical pattern
		spec.Routes = make([]table.RouteSpec, 0, len(s.Routes))
		for ri := range s.Routes {
			r := &s.Routes[ri]
			segs, msg := parsePattern(r.Path.Value)
			if msg != "" {
				d.errorf(r.Path.Node, "route %q: %s", r.Path.Value, msg)
				continue
			}
			rs := table.RouteSpec{Pattern: r.Path.Value, Segments: segs, Line: r.Node.Line}
			for _, w := range r.When {
				cd := config.Condition{Service: s.Name, Line: r.Node.Line, Route: r.Path.Value, Claim: w.Claim, OneOf: w.OneOf, Contains: w.Contains, Param: w.Param}
				if w.Param != "" {
					cd.Segment = slices.Index(strings.Split(strings.TrimPrefix(r.Path.Value, "/"), "/"), "{"+w.Param+"}")
					if cd.Segment < 0 {
						d.errorf(w.Node, "route %q: when %s: the route has no path parameter {%s}", r.Path.Value, w.Claim, w.Param)
						continue
					}
				}
				c.cfg.Conditions = append(c.cfg.Conditions, cd)
			}
			if len(r.Scopes)+len(r.AnyOf) > 0 {
				c.cfg.Scopes = append(c.cfg.Scopes, config.Scopes{Service: s.Name, Line: r.Node.Line, Route: r.Path.Value, All: refValues(r.Scopes), Any: refValues(r.AnyOf)})
			}
			if modeOf(r.Mode, s.Mode, c.p.Mode) == "shadow" {
				rs.Flags |= table.FlagShadow
			}
			ok := true
			if r.Access != nil {
				lv, found := levels[r.Access.Value]
				if !found {
					d.errorf(r.Access.Node, "route %q: unknown level %q%s", r.Path.Value, r.Access.Value, suggest(r.Access.Value, levelNames))
					ok = false
				}
				rs.Level = uint8(lv)
				if lv == 0 && len(r.Roles) == 0 && r.Token != "required" && len(r.Scopes)+len(r.AnyOf)+len(r.When) == 0 {
					rs.Flags |= table.FlagPublic
				}
			}
			if r.Token == "optional" {
				if rs.Flags&table.FlagPublic == 0 {
					d.errorf(r.Node, "route %q: token: optional only fits a public route", r.Path.Value)
					ok = false
				}
				rs.Flags |= table.FlagTokenOptional
			}
			for _, role := range r.Roles {
				i, found := roleIdx[role.Value]
				if !found {
					d.errorf(role.Node, "route %q: unknown role %q%s", r.Path.Value, role.Value, suggest(role.Value, roleNames))
					ok = false
					continue
				}
				rs.Roles.Set(i)
				c.p.Roles[c.roleDef(role.Value)].used = true
			}
			for _, m := range r.Methods {
				bit := table.ParseMethod(m.Value)
				if bit == 0 {
					d.errorf(m.Node, "route %q: method %q is not one of %s%s", r.Path.Value, m.Value, strings.Join(table.MethodNames(), " "), suggest(strings.ToUpper(m.Value), table.MethodNames()))
					ok = false
					continue
				}
				if rs.Methods&bit != 0 {
					d.errorf(m.Node, "route %q: method %s listed twice", r.Path.Value, m.Value)
				}
				rs.Methods |= bit
			}
			rs.Methods = table.WithHead(rs.Methods)
			if !ok {
				continue
			}
			canon := canonical(segs)
			tied := false
			for _, o := range seen[canon] {
				om := methodsOf(o)
				switch {
				case om&rs.Methods == table.MethodHead && (om|rs.Methods)&table.MethodGet != 0:
					d.errorf(r.Path.Node, "route %q ties with route %q at %s on HEAD: a route that names GET covers HEAD, so name HEAD in one of them only", r.Path.Value, o.Path.Value, d.pos(o.Path.Node))
					tied = true
				case om&rs.Methods != 0 || (om == 0 && rs.Methods == 0):
					d.errorf(r.Path.Node, "route %q ties with route %q at %s: both match the same paths and methods", r.Path.Value, o.Path.Value, d.pos(o.Path.Node))
					tied = true
				}
			}
			if tied {
				continue
			}
			seen[canon] = append(seen[canon], r)
			spec.Routes = append(spec.Routes, rs)
		}
		c.spec.Services = append(c.spec.Services, spec)
		if modeOf("", s.Mode, c.p.Mode) == "shadow" {
			c.cfg.ShadowServices = append(c.cfg.ShadowServices, s.Name)
		}
	}
	c.unreachable(mounts)
	for _, r := range c.p.Roles {
		if !r.used {
			d := r.dec
			c.warnf(d, r.Node, "role %s: no route requires it (its permissions still grant access)", r.Name)
		}
	}
}

// methodsOf is the methods a route matches: those it names, and HEAD
// with GET.
func methodsOf(r *Route) table.MethodSet {
	var m table.MethodSet
	for _, x := range r.Methods {
		m |= table.ParseMethod(x.Value)
	}
	return table.WithHead(m)
}

func (c *compilation) roleDef(name string) int {
	for i, r := range c.p.Roles {
		if r.Name == name {
			return i
		}
	}
	return -1
}

// unreachable warns about routes that no request can reach: on every
// mount of their service, another service's longer prefix on the same
// host takes all the paths the route matches.
func (c *compilation) unreachable(mounts []mountAt) {
	for si := range c.p.Services {
		s := &c.p.Services[si]
		if !contested(s, mounts) {
			continue
		}
		for ri := range s.Routes {
			r := &s.Routes[ri]
			segs, msg := parsePattern(r.Path.Value)
			if msg != "" {
				continue
			}
			reachable := false
			var thief *Service
			for _, m := range mounts {
				if m.svc != s {
					continue
				}
				full := strings.TrimSuffix(m.Prefix, "/") + literalHead(segs)
				taken := false
				for _, o := range mounts {
					if o.svc != s && o.Host == m.Host && len(o.Prefix) > len(m.Prefix) && (full == o.Prefix || strings.HasPrefix(full, o.Prefix+"/")) {
						taken, thief = true, o.svc
					}
				}
				reachable = reachable || !taken
			}
			if !reachable && thief != nil {
				c.warnf(s.dec, r.Path.Node, "route %q of service %s is unreachable: service %s's prefix takes all its paths", r.Path.Value, s.Name, thief.Name)
			}
		}
	}
}

// contested reports whether another service has a longer prefix on one
// of s's hosts: only then can a route of s be unreachable.
func contested(s *Service, mounts []mountAt) bool {
	for _, m := range mounts {
		if m.svc != s {
			continue
		}
		for _, o := range mounts {
			if o.svc != s && o.Host == m.Host && len(o.Prefix) > len(m.Prefix) {
				return true
			}
		}
	}
	return false
}

// literalHead is the leading literal segments of a pattern as a path.
func literalHead(segs []table.Segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.Kind != table.SegLiteral {
			break
		}
		b.WriteString("/" + s.Lit)
	}
	return b.String()
}

// modeOf is the mode that applies: the most specific one given.
func modeOf(route, service, policy string) string {
	for _, m := range []string{route, service, policy} {
		if m != "" {
			return m
		}
	}
	return "enforce"
}
