package compiler

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"gopkg.in/yaml.v3"
)

// Policy is a parsed policy: what the files say, with positions, before
// the cross-checks of Compile.
type Policy struct {
	Name     string
	Mode     string // "enforce" or "shadow"; "" is enforce
	Identity *Identity
	Levels   []LevelDef
	Roles    []RoleDef
	Sessions Sessions
	Options  Options
	CORS     *CORSDef // the policy's cross-origin rule, for services and routes without their own
	Services []Service

	// where each singleton section was defined, to report duplicates
	defined map[string]Pos
}

// Identity is the identity section.
type Identity struct {
	Node    *yaml.Node
	Sources []TokenSource
	Issuers []IssuerDef
	Leeway  time.Duration
	Claims  map[string]string
	Forward []ForwardDef
	dir     string // directory of the file, for key files
	dec     *decoder
}

// TokenSource is where a token is read.
type TokenSource struct {
	Header, Scheme, Cookie string
}

// IssuerDef is one issuer as written.
type IssuerDef struct {
	Node       *yaml.Node
	Name       string
	Kind       string
	Issuer     string
	Tenants    []ref // for an issuer URL with {tenant}: the tenants allowed
	Audiences  []string
	Algorithms []ref
	RequireExp bool
	TokenType  string            // the typ its tokens must carry, or ""
	Claims     map[string]string // its own level and roles claim paths
	LevelsFrom *LevelsFromDef
	Secret     *KeyRef
	JWKS       *KeyRef
	PEM        *KeyRef
	OIDC       *KeyRef // URL is the provider's issuer, for discovery
}

// KeyRef names where key material comes from: an environment variable or
// a file (relative to the policy file) read at compile time, a secret
// the sidecar holds at run time, or a URL the sidecar fetches, with how
// often.
type KeyRef struct {
	Node     *yaml.Node
	Env      string
	File     string
	Runtime  string
	URL      string
	Encoding string // a secret's: config.SecretRaw, SecretBase64 or SecretJWK
	Fetch    FetchDef
}

// FetchDef is how a remote key set is kept fresh; zero fields take the
// defaults.
type FetchDef struct {
	Refresh, MinInterval, Timeout time.Duration
	AllowHTTP                     bool
}

// ForwardDef maps a header to an identity field, or to a claim path
// (Field config.FieldClaim).
type ForwardDef struct {
	Header, Field, Claim string
	Node                 *yaml.Node
}

// LevelDef is one named level.
type LevelDef struct {
	Name  string
	Value int
	Node  *yaml.Node
}

// RoleDef is one role and its permissions.
type RoleDef struct {
	Name  string
	Node  *yaml.Node
	Perms []PermDef
	used  bool
	dec   *decoder
}

// PermDef is one role permission: "[METHOD[,METHOD]] PATTERN" or
// "[METHOD] re:REGEX", written alone or as
// {permission: ..., scopes: [...], any_scopes: [...]}.
type PermDef struct {
	ref
	Scopes, AnyOf []ref
}

// Sessions is the sessions section.
type Sessions struct {
	State   string
	Cache   time.Duration
	OnError string
}

// Options is the options section.
type Options struct {
	Preflight        bool
	AllowEncodedPath bool
	LenientPaths     bool
	PassHeaders      []string // lower case
	ShadowHeader     string
	MaxTokenBytes    int // 0: config.DefaultMaxTokenBytes
}

// CORSDef is a cross-origin rule as written (config.CORS).
type CORSDef struct {
	Node             *yaml.Node
	Origins          []ref
	Methods          []ref
	Headers          []ref
	Expose           []ref
	Credentials      bool
	MaxAge           time.Duration
	ForwardPreflight bool
	dec              *decoder
}

// Service is one service as written.
type Service struct {
	Name    string
	Mode    string // "" inherits the policy's
	Node    *yaml.Node
	Hosts   []ref
	Prefix  string
	Default string
	CORS    *CORSDef
	When    []WhenDef
	Routes  []Route
	dec     *decoder
}

// LevelsFromDef derives a level from a token's roles, scopes or acr:
// value -> a level name or number.
type LevelsFromDef struct {
	Node   *yaml.Node
	Source string
	Values map[string]ref
}

// WhenDef is one claim condition as written (config.Condition): the
// claim path, and what its value must be.
type WhenDef struct {
	Node     *yaml.Node
	Claim    string
	OneOf    []string
	Contains string
	Param    string // a route parameter's name, from "{name}"
}

// Pos is where a node of the service's file is.
func (s *Service) Pos(n *yaml.Node) Pos { return s.dec.pos(n) }

// Route is one route as written.
type Route struct {
	Mode    string // "" inherits the service's
	Node    *yaml.Node
	Path    ref
	Access  *ref
	Roles   []ref
	Methods []ref
	Token   string
	CORS    *CORSDef
	Scopes  []ref // all needed
	AnyOf   []ref // one needed
	When    []WhenDef
}

var (
	topFields      = []string{"version", "name", "mode", "identity", "levels", "roles", "sessions", "options", "cors", "services"}
	identityFields = []string{"token", "issuers", "leeway", "claims", "forward"}
	sourceFields   = []string{"header", "scheme", "cookie"}
	issuerFields   = []string{"name", "kind", "issuer", "tenants", "audiences", "algorithms", "require_exp", "token_type", "claims", "levels_from", "secret", "jwks", "pem", "oidc"}
	fetchFields    = []string{"refresh", "min_interval", "timeout", "allow_http"}
	keyRefFields   = map[string][]string{
		"secret": {"env", "file", "runtime", "encoding"},
		"jwks":   append([]string{"file", "url", "env"}, fetchFields...),
		"pem":    {"file", "env"},
		"oidc":   append([]string{"issuer"}, fetchFields...),
	}
	claimFields   = []string{"subject", "level", "roles", "scopes"}
	sessionFields = []string{"state", "cache", "on_error"}
	optionFields  = []string{"preflight", "allow_encoded_path", "lenient_paths", "pass_headers", "shadow_header", "max_token_bytes"}
	serviceFields = []string{"name", "hosts", "prefix", "default", "mode", "cors", "when", "routes"}
	routeFields   = []string{"path", "access", "roles", "methods", "token", "mode", "cors", "scopes", "any_scopes", "when"}
	corsFields    = []string{"origins", "methods", "headers", "expose", "credentials", "max_age", "forward_preflight"}
	permFields    = []string{"permission", "scopes", "any_scopes"}
)

// parseFile decodes one file's top-level mapping into p.
func (p *Policy) parseFile(d *decoder, dir string, root *yaml.Node) {
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	d.fields(root, "policy", topFields, func(key string, k, v *yaml.Node) {
		if key != "version" && key != "roles" && key != "services" && key != "name" {
			if prev, ok := p.defined[key]; ok {
				d.errorf(k, "%s already defined at %s", key, prev)
				return
			}
			p.defined[key] = d.pos(k)
		}
		switch key {
		case "version":
			if n, ok := d.integer(v, "version", 1, 1<<30); ok && n != 1 {
				d.errorf(v, "version %d is not supported: this Keycard reads version 1", n)
			}
		case "mode":
			p.Mode, _ = d.oneOf(v, "mode", "enforce", "shadow")
		case "name":
			if s, ok := d.ident(v, "name"); ok {
				if p.Name != "" && p.Name != s {
					d.errorf(v, "name %q differs from %q given at %s", s, p.Name, p.defined["name"])
				} else if p.Name == "" {
					p.Name = s
					p.defined["name"] = d.pos(v)
				}
			}
		case "identity":
			p.Identity = d.identity(v, dir)
		case "levels":
			d.fields(v, "levels", nil, func(name string, k, lv *yaml.Node) {
				if !d.checkIdent(k, "level name", name) {
					return
				}
				if n, ok := d.integer(lv, "level "+name, 0, config.MaxLevel); ok {
					p.Levels = append(p.Levels, LevelDef{Name: name, Value: n, Node: k})
				}
			})
		case "roles":
			d.fields(v, "roles", nil, func(name string, k, rv *yaml.Node) {
				if !d.checkIdent(k, "role name", name) {
					return
				}
				p.Roles = append(p.Roles, RoleDef{Name: name, Node: k, Perms: d.permissions(rv, "role "+name), dec: d})
			})
		case "sessions":
			d.fields(v, "sessions", sessionFields, func(key string, _, sv *yaml.Node) {
				switch key {
				case "state":
					p.Sessions.State, _ = d.oneOf(sv, "sessions.state", "none", "sidecar")
				case "cache":
					p.Sessions.Cache, _ = d.duration(sv, "sessions.cache", time.Hour)
				case "on_error":
					p.Sessions.OnError, _ = d.oneOf(sv, "sessions.on_error", "deny", "allow")
				}
			})
		case "options":
			p.Options.Preflight = true // the default when the section leaves it out
			d.fields(v, "options", optionFields, func(key string, _, ov *yaml.Node) {
				switch key {
				case "preflight":
					p.Options.Preflight, _ = d.boolean(ov, "options.preflight")
				case "allow_encoded_path":
					p.Options.AllowEncodedPath, _ = d.boolean(ov, "options.allow_encoded_path")
				case "lenient_paths":
					p.Options.LenientPaths, _ = d.boolean(ov, "options.lenient_paths")
				case "pass_headers":
					p.Options.PassHeaders = d.passHeaders(ov)
				case "shadow_header":
					if h, ok := d.str(ov, "options.shadow_header"); ok && d.checkHeaderName(ov, "options.shadow_header", h) {
						p.Options.ShadowHeader = h
					}
				case "max_token_bytes":
					p.Options.MaxTokenBytes, _ = d.integer(ov, "options.max_token_bytes", config.MinMaxTokenBytes, config.MaxMaxTokenBytes)
				}
			})
		case "cors":
			p.CORS = d.cors(v, "cors")
		case "services":
			d.list(v, "services", func(i int, sv *yaml.Node) {
				p.Services = append(p.Services, d.service(sv, i))
			})
		}
	})
}

func (d *decoder) identity(n *yaml.Node, dir string) *Identity {
	id := &Identity{Node: n, dir: dir, dec: d, Claims: map[string]string{}}
	d.fields(n, "identity", identityFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "token":
			d.list(v, "identity.token", func(i int, sv *yaml.Node) {
				var s TokenSource
				what := fmt.Sprintf("identity.token[%d]", i)
				d.fields(sv, what, sourceFields, func(key string, _, fv *yaml.Node) {
					val, _ := d.str(fv, what+"."+key)
					switch key {
					case "header":
						s.Header = val
					case "scheme":
						s.Scheme = val
					case "cookie":
						s.Cookie = val
					}
				})
				switch {
				case s.Header == "" && s.Cookie == "":
					d.errorf(sv, "%s: needs a header or a cookie", what)
				case s.Header != "" && s.Cookie != "":
					d.errorf(sv, "%s: a header or a cookie, not both", what)
				case s.Cookie != "" && s.Scheme != "":
					d.errorf(sv, "%s: a cookie has no scheme", what)
				case s.Header != "" && !config.IsToken(s.Header):
					d.errorf(sv, "%s: %q is not a valid header name", what, s.Header)
				case s.Scheme != "" && !config.IsToken(s.Scheme):
					d.errorf(sv, "%s: scheme %q is not an HTTP token (such as Bearer)", what, s.Scheme)
				default:
					id.Sources = append(id.Sources, s)
				}
			})
		case "issuers":
			d.list(v, "identity.issuers", func(i int, iv *yaml.Node) {
				id.Issuers = append(id.Issuers, d.issuer(iv, i))
			})
		case "leeway":
			id.Leeway, _ = d.duration(v, "identity.leeway", 5*time.Minute)
		case "claims":
			d.fields(v, "identity.claims", claimFields, func(key string, _, cv *yaml.Node) {
				if s, ok := d.claimPath(cv, "identity.claims."+key); ok {
					id.Claims[key] = s
				}
			})
		case "forward":
			d.fields(v, "identity.forward", nil, func(header string, hk, fv *yaml.Node) {
				if !config.IsToken(header) {
					d.errorf(hk, "identity.forward: %q is not a valid header name", header)
					return
				}
				what := "identity.forward." + header
				if fv.Kind == yaml.MappingNode {
					def := ForwardDef{Header: header, Field: config.FieldClaim, Node: hk}
					d.fields(fv, what, []string{"claim"}, func(_ string, _, cv *yaml.Node) {
						def.Claim, _ = d.claimPath(cv, what+".claim")
					})
					if def.Claim == "" {
						d.errorf(fv, "%s: needs claim: PATH", what)
						return
					}
					id.Forward = append(id.Forward, def)
					return
				}
				if f, ok := d.oneOf(fv, what, "subject", "level", "roles", "issuer"); ok {
					id.Forward = append(id.Forward, ForwardDef{Header: header, Field: f, Node: hk})
				}
			})
		}
	})
	return id
}

func (d *decoder) issuer(n *yaml.Node, i int) IssuerDef {
	is := IssuerDef{Node: n, Kind: "jwt"}
	what := fmt.Sprintf("identity.issuers[%d]", i)
	d.fields(n, what, issuerFields, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			is.Name, _ = d.ident(v, what+".name")
		case "kind":
			is.Kind, _ = d.oneOf(v, what+".kind", "jwt", "opaque")
		case "issuer":
			is.Issuer, _ = d.str(v, what+".issuer")
		case "tenants":
			is.Tenants = d.strList(v, what+".tenants")
		case "audiences":
			for _, r := range d.strList(v, what+".audiences") {
				is.Audiences = append(is.Audiences, r.Value)
			}
		case "algorithms":
			is.Algorithms = d.strList(v, what+".algorithms")
		case "require_exp":
			is.RequireExp, _ = d.boolean(v, what+".require_exp")
		case "token_type":
			is.TokenType, _ = d.oneOf(v, what+".token_type", "at+jwt", "JWT")
		case "levels_from":
			d.fields(v, what+".levels_from", []string{"roles", "scopes", "acr"}, func(src string, _, mv *yaml.Node) {
				if is.LevelsFrom != nil {
					d.errorf(mv, "%s.levels_from: one source (roles, scopes or acr)", what)
					return
				}
				l := &LevelsFromDef{Node: mv, Source: src, Values: map[string]ref{}}
				d.fields(mv, what+".levels_from."+src, nil, func(value string, _, lv *yaml.Node) {
					if name, ok := d.str(lv, what+".levels_from."+src+"."+value); ok {
						l.Values[value] = ref{name, lv}
					}
				})
				is.LevelsFrom = l
			})
		case "claims":
			is.Claims = map[string]string{}
			d.fields(v, what+".claims", claimFields, func(key string, kn, cv *yaml.Node) {
				if key == "subject" {
					d.errorf(kn, "%s.claims.subject: the subject names a token's state at the sidecar, which reads identity.claims.subject for every issuer: set it there", what)
					return
				}
				if s, ok := d.claimPath(cv, what+".claims."+key); ok {
					is.Claims[key] = s
				}
			})
		case "secret", "jwks", "pem", "oidc":
			kr := d.keyRef(v, what+"."+key, key)
			if kr == nil {
				return
			}
			switch key {
			case "secret":
				is.Secret = kr
			case "jwks":
				is.JWKS = kr
			case "pem":
				is.PEM = kr
			case "oidc":
				is.OIDC = kr
			}
		}
	})
	if is.Name == "" {
		d.errorf(n, "%s: needs a name", what)
	}
	return is
}

// keyRef reads one of an issuer's key sources: exactly one of its
// source fields, and for a remote one how to fetch it.
func (d *decoder) keyRef(v *yaml.Node, what, key string) *KeyRef {
	kr := &KeyRef{Node: v}
	sources := 0
	d.fields(v, what, keyRefFields[key], func(field string, _, fv *yaml.Node) {
		var s string
		switch field {
		case "allow_http":
		case "encoding":
			s, _ = d.oneOf(fv, what+".encoding", "raw", config.SecretBase64, config.SecretJWK)
		default:
			s, _ = d.str(fv, what+"."+field)
		}
		switch field {
		case "env":
			kr.Env, sources = s, sources+1
		case "file":
			kr.File, sources = s, sources+1
		case "runtime":
			kr.Runtime, sources = s, sources+1
		case "encoding":
			if s != "raw" {
				kr.Encoding = s
			}
		case "url", "issuer":
			kr.URL, sources = s, sources+1
		case "refresh":
			kr.Fetch.Refresh, _ = d.duration(fv, what+".refresh", 24*time.Hour)
		case "min_interval":
			kr.Fetch.MinInterval, _ = d.duration(fv, what+".min_interval", 24*time.Hour)
		case "timeout":
			kr.Fetch.Timeout, _ = d.duration(fv, what+".timeout", time.Minute)
		case "allow_http":
			kr.Fetch.AllowHTTP, _ = d.boolean(fv, what+".allow_http")
		}
	})
	if sources != 1 {
		var names []string
		for _, f := range keyRefFields[key] {
			if !slices.Contains(fetchFields, f) && f != "encoding" {
				names = append(names, f)
			}
		}
		if len(names) == 1 {
			d.errorf(v, "%s: needs %s", what, names[0])
		} else {
			d.errorf(v, "%s: needs exactly one of %s", what, strings.Join(names, ", "))
		}
		return nil
	}
	if kr.URL == "" && kr.Fetch != (FetchDef{}) {
		d.errorf(v, "%s: refresh, min_interval, timeout and allow_http are for a key set fetched from a URL", what)
	}
	return kr
}

// claimPath reads a claim path (config.ParseClaimPath): a claim's name,
// or member names from the top separated by dots, quoted where a name
// holds a dot.
func (d *decoder) claimPath(n *yaml.Node, what string) (string, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return "", false
	}
	if _, err := config.ParseClaimPath(s); err != nil {
		d.errorf(n, "%s: %v", what, err)
		return "", false
	}
	return s, true
}

func (d *decoder) service(n *yaml.Node, i int) Service {
	s := Service{Node: n, Default: "deny", Prefix: "/", dec: d}
	what := fmt.Sprintf("services[%d]", i)
	d.fields(n, what, serviceFields, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			s.Name, _ = d.ident(v, what+".name")
		case "hosts":
			s.Hosts = d.strList(v, what+".hosts")
		case "prefix":
			if p, ok := d.str(v, what+".prefix"); ok {
				if err := checkPrefix(p); err != "" {
					d.errorf(v, "%s.prefix %q: %s", what, p, err)
				} else {
					s.Prefix = p
				}
			}
		case "default":
			s.Default, _ = d.oneOf(v, what+".default", "deny", "not_found", "allow")
		case "mode":
			s.Mode, _ = d.oneOf(v, what+".mode", "enforce", "shadow")
		case "cors":
			s.CORS = d.cors(v, what+".cors")
		case "when":
			s.When = d.when(v, what+".when")
		case "routes":
			s.Routes = make([]Route, 0, len(v.Content)) // a million routes should not regrow a million times
			d.list(v, what+".routes", func(j int, rv *yaml.Node) {
				if r, ok := d.route(rv, fmt.Sprintf("%s.routes[%d]", what, j)); ok {
					s.Routes = append(s.Routes, r)
				}
			})
		}
	})
	if s.Name != "" {
		what = "service " + s.Name
	}
	if s.Name == "" {
		d.errorf(n, "%s: needs a name", what)
	}
	if len(s.Hosts) == 0 {
		d.errorf(n, "%s: needs at least one host", what)
	}
	return s
}

func (d *decoder) route(n *yaml.Node, what string) (Route, bool) {
	r := Route{Node: n}
	ok := true
	d.fields(n, what, routeFields, func(key string, _, v *yaml.Node) {
		switch key {
		case "path":
			s, good := d.str(v, what+".path")
			r.Path = ref{s, v}
			ok = ok && good
		case "access":
			if s, good := d.str(v, what+".access"); good {
				r.Access = &ref{s, v}
			}
		case "roles":
			r.Roles = d.strList(v, what+".roles")
		case "methods":
			r.Methods = d.strList(v, what+".methods")
		case "token":
			r.Token, _ = d.oneOf(v, what+".token", "optional", "required")
		case "mode":
			r.Mode, _ = d.oneOf(v, what+".mode", "enforce", "shadow")
		case "cors":
			r.CORS = d.cors(v, what+".cors")
		case "scopes":
			r.Scopes = d.scopes(v, what+".scopes")
		case "any_scopes":
			r.AnyOf = d.scopes(v, what+".any_scopes")
		case "when":
			r.When = d.when(v, what+".when")
		}
	})
	if r.Path.Node == nil {
		d.errorf(n, "%s: needs a path", what)
		return r, false
	}
	if r.Access == nil && len(r.Roles) == 0 {
		d.errorf(n, "%s: needs access, roles or both", what)
		return r, false
	}
	return r, ok
}

// when reads claim conditions: claim path -> a value ("t-42", 42, true),
// a list of values (one of them), {contains: value} (a list claim that
// holds it), or "{name}" (the route's path parameter name).
func (d *decoder) when(n *yaml.Node, what string) []WhenDef {
	var out []WhenDef
	d.fields(n, what, nil, func(claim string, kn, v *yaml.Node) {
		if _, err := config.ParseClaimPath(claim); err != nil {
			d.errorf(kn, "%s: %v", what, err)
			return
		}
		w := WhenDef{Node: kn, Claim: claim}
		at := what + "." + claim
		switch v.Kind {
		case yaml.ScalarNode:
			if len(v.Value) > 2 && v.Value[0] == '{' && v.Value[len(v.Value)-1] == '}' && v.Style != yaml.SingleQuotedStyle {
				w.Param = v.Value[1 : len(v.Value)-1]
			} else if v.Value == "" {
				d.errorf(v, "%s: an empty value", at)
				return
			} else {
				w.OneOf = []string{v.Value}
			}
		case yaml.SequenceNode:
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode || it.Value == "" {
					d.errorf(it, "%s: a list of values", at)
					return
				}
				w.OneOf = append(w.OneOf, it.Value)
			}
			if len(w.OneOf) == 0 {
				d.errorf(v, "%s: an empty list", at)
				return
			}
		case yaml.MappingNode:
			d.fields(v, at, []string{"contains"}, func(_ string, _, cv *yaml.Node) {
				w.Contains, _ = d.str(cv, at+".contains")
			})
			if w.Contains == "" {
				d.errorf(v, "%s: needs contains: VALUE", at)
				return
			}
		default:
			d.errorf(v, "%s: a value, a list of values, {contains: VALUE} or \"{parameter}\"", at)
			return
		}
		out = append(out, w)
	})
	return out
}

// scopes reads a list of OAuth scope names.
func (d *decoder) scopes(n *yaml.Node, what string) []ref {
	list := d.strList(n, what)
	for _, s := range list {
		if !config.ValidScope(s.Value) {
			d.errorf(s.Node, "%s: %q is not a scope name (printable, no spaces or quotes)", what, s.Value)
		}
	}
	return list
}

// permissions reads a role's permissions: each a string, or a mapping
// of the permission and the scopes it needs.
func (d *decoder) permissions(n *yaml.Node, what string) []PermDef {
	var out []PermDef
	d.list(n, what, func(i int, item *yaml.Node) {
		at := fmt.Sprintf("%s[%d]", what, i)
		if item.Kind != yaml.MappingNode {
			if s, ok := d.str(item, at); ok {
				out = append(out, PermDef{ref: ref{s, item}})
			}
			return
		}
		var p PermDef
		d.fields(item, at, permFields, func(key string, _, v *yaml.Node) {
			switch key {
			case "permission":
				if s, ok := d.str(v, at+".permission"); ok {
					p.ref = ref{s, v}
				}
			case "scopes":
				p.Scopes = d.scopes(v, at+".scopes")
			case "any_scopes":
				p.AnyOf = d.scopes(v, at+".any_scopes")
			}
		})
		if p.Node == nil {
			d.errorf(item, "%s: needs a permission", at)
			return
		}
		out = append(out, p)
	})
	return out
}

// cors reads a cross-origin rule; what it means is checked by Compile.
func (d *decoder) cors(n *yaml.Node, what string) *CORSDef {
	c := &CORSDef{Node: n, dec: d}
	d.fields(n, what, corsFields, func(key string, _, v *yaml.Node) {
		switch key {
		case "origins":
			c.Origins = d.strList(v, what+".origins")
		case "methods":
			c.Methods = d.strList(v, what+".methods")
		case "headers":
			c.Headers = d.strList(v, what+".headers")
		case "expose":
			c.Expose = d.strList(v, what+".expose")
		case "credentials":
			c.Credentials, _ = d.boolean(v, what+".credentials")
		case "max_age":
			c.MaxAge, _ = d.duration(v, what+".max_age", config.MaxCORSAge*time.Second)
		case "forward_preflight":
			c.ForwardPreflight, _ = d.boolean(v, what+".forward_preflight")
		}
	})
	if len(c.Origins) == 0 {
		d.errorf(n, "%s: needs origins", what)
	}
	return c
}
