// Package policydiff owns the semantic diff of two compiled policies:
// every request whose decision changes, derived from the two policies'
// patterns rather than sampled, and every setting that changes.
//
// Requests are enumerated by equivalence class. A decision depends on
// the host, on which route and permission patterns a path matches, on
// the method and on the caller's level and roles. For each host the
// patterns of both policies (mount prefix plus route, and the roles'
// permissions) are merged into one trie of literal segments; every path
// of that trie, with one segment that no literal equals standing for all
// others at each step and one level deeper than the deepest pattern,
// represents a class of paths that both policies treat alike. Methods
// are every method either policy names plus one it does not; callers
// are no token and each level alone and with each role. Regular
// expression permissions (re:) cannot be enumerated and are compared as
// text among the settings.
package policydiff

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/table"
)

// Change is one group of requests whose decision changed the same way.
type Change struct {
	Service     string   `json:"service"`         // the service that decides now (or before, if none now)
	RouteBefore string   `json:"route_before"`    // the matched route pattern before ("" for none)
	RouteAfter  string   `json:"route_after"`     // and after
	Hosts       []string `json:"hosts"`           // the hosts (with mount prefixes) the requests went to
	Methods     []string `json:"methods"`         // nil: any method
	Callers     []string `json:"callers"`         // "no token", "level 1", "level 1 + role support"
	Before      string   `json:"before"`          // "200 ok", "403 insufficient_level"
	After       string   `json:"after"`           //
	Example     string   `json:"example"`         // one request of the group: METHOD HOST PATH
	Paths       []string `json:"paths,omitempty"` // every representative path of the group
	example     string
}

// Setting is a change of something other than a decision.
type Setting struct {
	What   string `json:"what"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Report is the diff.
type Report struct {
	Decisions []Change  `json:"decisions"`
	Settings  []Setting `json:"settings"`
}

// Empty reports whether nothing changed.
func (r *Report) Empty() bool { return len(r.Decisions) == 0 && len(r.Settings) == 0 }

// other is a segment no pattern uses literally, and a method no policy
// names.
const (
	other       = "keycard-other"
	otherMethod = "PROPFIND"
)

// Side is one side of a diff: a compiled configuration and table, and
// the policy source when there is one (it names route parameters; a
// compiled artifact shows them as {}).
type Side struct {
	Config *config.Config
	Table  *table.Table
	Policy *compiler.Policy // nil for a compiled artifact
}

// FromResult is a compiled policy as a side.
func FromResult(res *compiler.Result) Side {
	return Side{Config: res.Config, Table: res.Table, Policy: res.Policy}
}

// Diff compares two compiled policies.
func Diff(before, after *compiler.Result) (*Report, error) {
	return DiffSides(FromResult(before), FromResult(after))
}

// DiffSides compares two sides.
func DiffSides(before, after Side) (*Report, error) {
	now := func() time.Time { return time.Unix(0, 0) }
	// Decide as one gateway: how Kong and Envoy present a request is not
	// the policy's business, and an artifact may be compiled for either.
	neutral := func(c *config.Config) *config.Config {
		n := *c
		n.Gateway = config.GatewayEnvoy
		return &n
	}
	eb, err := filter.New(neutral(before.Config), before.Table, now)
	if err != nil {
		return nil, err
	}
	ea, err := filter.New(neutral(after.Config), after.Table, now)
	if err != nil {
		return nil, err
	}
	hosts := hostsOf(before, after)
	methods := methodsOf(before, after)
	callers := callersOf(before, after)
	type key struct{ service, rb, ra, before, after string }
	groups := map[key]*Change{}
	var order []key
	for _, h := range hosts {
		for _, path := range h.paths {
			for _, m := range methods {
				for _, c := range callers {
					req := &filter.Request{Method: m, Authority: h.host, Path: path, Headers: filter.HeaderList(nil)}
					db, da := eb.DecideAs(req, c.id), ea.DecideAs(req, c.id)
					ob, oa := outcome(&db), outcome(&da)
					if ob == oa {
						continue
					}
					svc := da.Service
					if svc == "" {
						svc = db.Service
					}
					k := key{svc, pattern(before, &db), pattern(after, &da), ob, oa}
					g, ok := groups[k]
					if !ok {
						g = &Change{Service: svc, RouteBefore: k.rb, RouteAfter: k.ra, Before: ob, After: oa, example: m + " " + h.host + " " + path}
						groups[k] = g
						order = append(order, k)
					}
					addOnce(&g.Hosts, h.label)
					addOnce(&g.Methods, m)
					addOnce(&g.Callers, c.label)
					addOnce(&g.Paths, path)
				}
			}
		}
	}
	r := &Report{Decisions: []Change{}, Settings: settings(before, after)}
	levels, roles := levelsAndRoles(before, after)
	for _, k := range order {
		g := groups[k]
		if len(g.Methods) == len(methods) {
			g.Methods = nil // any method
		}
		g.Callers = compact(g.Callers, levels, roles)
		g.Example = g.example
		r.Decisions = append(r.Decisions, *g)
	}
	sort.SliceStable(r.Decisions, func(i, j int) bool { return r.Decisions[i].Service < r.Decisions[j].Service })
	return r, nil
}

func addOnce(list *[]string, s string) {
	if !slices.Contains(*list, s) {
		*list = append(*list, s)
	}
}

func outcome(d *filter.Decision) string {
	if d.Shadow {
		return fmt.Sprintf("allow (shadow: %d %s)", d.Status, d.Reason)
	}
	if d.Allow {
		return "allow (" + d.Reason + ")"
	}
	return fmt.Sprintf("%d %s", d.Status, d.Reason)
}

// pattern is the matched route as the policy writes it (the table keeps
// no parameter names), found by its service and line.
func pattern(res Side, d *filter.Decision) string {
	if d.Route < 0 || d.Route >= res.Table.NumRoutes() {
		return ""
	}
	if res.Policy == nil {
		return res.Table.RoutePattern(d.Route)
	}
	for _, s := range res.Policy.Services {
		if s.Name != d.Service {
			continue
		}
		for _, r := range s.Routes {
			if r.Path.Node != nil && r.Path.Node.Line == d.RouteLine {
				return r.Path.Value
			}
		}
	}
	return res.Table.RoutePattern(d.Route)
}

// host is one host of either policy with the representative paths of its
// requests.
type host struct {
	host  string // as a client sends it (a wildcard host made concrete)
	label string // as the policy writes it
	paths []string
}

// hostsOf lists every host of either side (and one neither has), with
// the representative paths of the merged patterns under it: the paths
// each side's tries spell out under the host's mounts, and the role
// permissions' paths, which apply on every host.
func hostsOf(sides ...Side) []host {
	byHost := map[string][]string{} // host -> full patterns
	var names, perms []string
	for _, side := range sides {
		shape := side.Table.Shape()
		paths := map[string][]string{}
		for _, svc := range shape.Services {
			paths[svc.Name] = svc.Paths
		}
		for _, m := range shape.Mounts {
			if _, ok := byHost[m.Host]; !ok {
				names = append(names, m.Host)
			}
			for _, p := range paths[m.Service] {
				byHost[m.Host] = append(byHost[m.Host], m.Prefix+p)
			}
		}
		perms = append(perms, shape.Grants...)
	}
	sort.Strings(names)
	names = append(names, "unknown-host.invalid")
	var out []host
	for _, name := range names {
		pats := append(append([]string(nil), byHost[name]...), perms...)
		concrete := name
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			concrete = other + "." + rest
		}
		out = append(out, host{host: concrete, label: name, paths: representatives(pats)})
	}
	return out
}

// trie is the merged literal segments of a set of patterns.
type trie struct {
	children map[string]*trie
}

// representatives lists one path per class of paths the patterns
// cannot tell apart.
func representatives(patterns []string) []string {
	root := &trie{children: map[string]*trie{}}
	depth := 0
	for _, p := range patterns {
		segs := strings.Split(strings.Trim(p, "/"), "/")
		if len(segs) > depth {
			depth = len(segs)
		}
		n := root
		for _, s := range segs {
			if s == "" || s == "*" || s == "**" || strings.HasPrefix(s, "{") {
				break // a wildcard: the "other" segment stands for it
			}
			c, ok := n.children[s]
			if !ok {
				c = &trie{children: map[string]*trie{}}
				n.children[s] = c
			}
			n = c
		}
	}
	var out []string
	var walk func(n *trie, path string, left int)
	walk = func(n *trie, path string, left int) {
		if path == "" {
			out = append(out, "/")
		} else {
			out = append(out, path)
		}
		if left == 0 {
			return
		}
		var lits []string
		for s := range n.children {
			lits = append(lits, s)
		}
		sort.Strings(lits)
		for _, s := range lits {
			walk(n.children[s], path+"/"+s, left-1)
		}
		walk(&trie{children: map[string]*trie{}}, path+"/"+other, left-1)
	}
	walk(root, "", depth+1)
	return out
}

func methodsOf(sides ...Side) []string {
	set := []string{"GET"}
	for _, side := range sides {
		for _, m := range side.Table.Shape().Methods {
			addOnce(&set, m)
		}
	}
	sort.Strings(set)
	return append(set, otherMethod)
}

type caller struct {
	label string
	id    *token.Identity
}

func levelsAndRoles(sides ...Side) ([]int, []string) {
	var levels []int
	var roles []string
	for _, side := range sides {
		for _, l := range side.Config.Levels {
			if !slices.Contains(levels, l.Value) {
				levels = append(levels, l.Value)
			}
		}
		for _, r := range side.Table.Roles() {
			addOnce(&roles, r)
		}
	}
	sort.Ints(levels)
	sort.Strings(roles)
	return levels, roles
}

// compact says a group's callers in few words: "level 1, any roles"
// when every role at that level is there, "level >= 1, any roles" for
// every level from 1 up, "anyone" with no token too.
func compact(callers []string, levels []int, roles []string) []string {
	has := func(s string) bool { return slices.Contains(callers, s) }
	full := func(l int) bool {
		if !has(fmt.Sprintf("level %d", l)) {
			return false
		}
		for _, r := range roles {
			if !has(fmt.Sprintf("level %d + role %s", l, r)) {
				return false
			}
		}
		return true
	}
	from := len(levels) // levels[from:] are all full
	for from > 0 && full(levels[from-1]) {
		from--
	}
	if from == 0 && len(levels) > 0 && has("no token") {
		return []string{"anyone"}
	}
	var out []string
	for _, c := range callers {
		keep := true
		for _, l := range levels[from:] {
			if c == fmt.Sprintf("level %d", l) || strings.HasPrefix(c, fmt.Sprintf("level %d + role ", l)) {
				keep = false
			}
		}
		for i := 0; i < from; i++ {
			if full(levels[i]) && (c == fmt.Sprintf("level %d", levels[i]) || strings.HasPrefix(c, fmt.Sprintf("level %d + role ", levels[i]))) {
				keep = false
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	for i := 0; i < from; i++ {
		if full(levels[i]) {
			out = append(out, fmt.Sprintf("level %d, any roles", levels[i]))
		}
	}
	switch {
	case from == len(levels):
	case from == len(levels)-1:
		out = append(out, fmt.Sprintf("level %d, any roles", levels[from]))
	default:
		out = append(out, fmt.Sprintf("level >= %d, any roles", levels[from]))
	}
	return out
}

func callersOf(sides ...Side) []caller {
	levels, roles := levelsAndRoles(sides...)
	out := []caller{{"no token", nil}}
	for _, l := range levels {
		out = append(out, caller{fmt.Sprintf("level %d", l), &token.Identity{Issuer: "diff", Subject: "diff", Level: l}})
		for _, r := range roles {
			out = append(out, caller{fmt.Sprintf("level %d + role %s", l, r), &token.Identity{Issuer: "diff", Subject: "diff", Level: l, Roles: []string{r}}})
		}
	}
	return out
}

// settings lists what changed besides decisions, never a secret: keys
// appear by their RFC 7638 thumbprint.
func settings(before, after Side) []Setting {
	b, a := describe(before), describe(after)
	var keys []string
	for k := range b {
		keys = append(keys, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := []Setting{}
	for _, k := range keys {
		if deployment[k] && (before.Policy != nil || after.Policy != nil) {
			continue // a policy source has no deployment of its own
		}
		if b[k] != a[k] {
			out = append(out, Setting{What: k, Before: orNone(b[k]), After: orNone(a[k])})
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// deployment are the settings a compiled configuration carries for its
// deployment: compared between two compiled configurations only.
var deployment = map[string]bool{"gateway": true, "sidecar": true}

func describe(res Side) map[string]string {
	c := res.Config
	d := map[string]string{}
	set := func(k string, v any) {
		switch v := v.(type) {
		case string:
			d[k] = v
		default:
			data, _ := json.Marshal(v)
			d[k] = string(data)
		}
	}
	set("policy name", c.Policy)
	for _, is := range c.Identity.Issuers {
		p := "issuer " + is.Name
		set(p+" kind", is.Kind)
		set(p+" iss", is.Issuer)
		set(p+" tenants' iss", strings.Join(is.Issuers, ", "))
		set(p+" audiences", strings.Join(is.Audiences, ", "))
		set(p+" algorithms", strings.Join(is.Algorithms, ", "))
		set(p+" require_exp", fmt.Sprint(is.RequireExp))
		set(p+" token_type", is.TokenType)
		if c := is.Claims; c != nil {
			set(p+" claims", fmt.Sprintf("level %s, roles %s, scopes %s", c.Level, c.Roles, c.Scopes))
		}
		if l := is.LevelsFrom; l != nil {
			var m []string
			for _, k := range slices.Sorted(maps.Keys(l.Values)) {
				m = append(m, fmt.Sprintf("%s: %d", k, l.Values[k]))
			}
			set(p+" levels_from "+l.Source, strings.Join(m, ", "))
		}
		var prints []string
		for _, k := range is.Keys {
			prints = append(prints, thumbprint(k))
		}
		set(p+" keys", strings.Join(prints, ", "))
	}
	var sources []string
	for _, s := range c.Identity.Token {
		switch {
		case s.Cookie != "":
			sources = append(sources, "cookie "+s.Cookie)
		case s.Scheme != "":
			sources = append(sources, "header "+s.Header+" ("+s.Scheme+")")
		default:
			sources = append(sources, "header "+s.Header)
		}
	}
	set("token sources", strings.Join(sources, ", "))
	set("leeway", fmt.Sprintf("%ds", c.Identity.LeewaySeconds))
	set("claims", fmt.Sprintf("subject %s, level %s, roles %s, scopes %s", c.Identity.Claims.Subject, c.Identity.Claims.Level, c.Identity.Claims.Roles, cmp.Or(c.Identity.Claims.Scopes, "scope or scp")))
	var fwd []string
	for _, f := range c.Identity.Forward {
		if f.Field == config.FieldClaim {
			fwd = append(fwd, f.Header+": claim "+f.Claim)
		} else {
			fwd = append(fwd, f.Header+": "+f.Field)
		}
	}
	set("forwarded headers", strings.Join(fwd, ", "))
	var lv []string
	for _, l := range c.Levels {
		lv = append(lv, fmt.Sprintf("%s=%d", l.Name, l.Value))
	}
	set("levels", strings.Join(lv, ", "))
	set("sessions", fmt.Sprintf("state %s, cache %dms, on_error %s", c.Sessions.State, c.Sessions.CacheMillis, map[bool]string{true: "allow", false: "deny"}[c.Sessions.OnErrorAllow]))
	set("options", fmt.Sprintf("preflight %v, allow_encoded_path %v, lenient_paths %v, pass_headers [%s]", c.Options.Preflight, c.Options.AllowEncodedPath, c.Options.LenientPaths, strings.Join(c.Options.PassHeaders, ", ")))
	// From the table, so that a policy and a compiled artifact describe
	// alike.
	shape := res.Table.Shape()
	set("permission paths", strings.Join(shape.Grants, ", "))
	set("permission regular expressions", strings.Join(shape.Regexes, ", "))
	hosts := map[string][]string{}
	for _, m := range shape.Mounts {
		hosts[m.Service] = append(hosts[m.Service], m.Host+m.Prefix)
	}
	for _, svc := range shape.Services {
		set("service "+svc.Name+" hosts", strings.Join(hosts[svc.Name], ", "))
		set("service "+svc.Name+" default", svc.Default.String())
	}
	set("mode", fmt.Sprintf("policy shadow %v, shadow services [%s]", c.Shadow, strings.Join(c.ShadowServices, ", ")))
	// Deployment settings (deployment): the gateway key by a digest.
	set("gateway", c.Gateway)
	key := "none"
	if c.Sidecar.Key != "" {
		sum := sha256.Sum256([]byte(c.Sidecar.Key))
		key = "sha256:" + hex.EncodeToString(sum[:8])
	}
	set("sidecar", fmt.Sprintf("upstream %s, timeout %dms, gateway key %s", c.Sidecar.Upstream, c.Sidecar.TimeoutMillis, key))
	conds := map[string][]string{}
	var condKeys []string
	for _, cd := range c.Conditions {
		where := "conditions of service " + cd.Service
		if cd.Line > 0 {
			where += ", route " + cd.Route
		}
		if _, ok := conds[where]; !ok {
			condKeys = append(condKeys, where)
		}
		conds[where] = append(conds[where], cd.String())
	}
	for _, k := range condKeys {
		set(k, strings.Join(conds[k], "; "))
	}
	for _, r := range c.Scopes {
		if r.Role != "" {
			set(fmt.Sprintf("scopes of role %s, permission %s", r.Role, r.Route), describeScopes(r))
			continue
		}
		set(fmt.Sprintf("scopes of service %s, route %s", r.Service, r.Route), describeScopes(r))
	}
	for _, r := range c.CORS {
		where := "cors of the policy"
		switch {
		case r.Line > 0:
			where = fmt.Sprintf("cors of service %s, route %s", r.Service, r.Route)
		case r.Service != "":
			where = "cors of service " + r.Service
		}
		set(where, fmt.Sprintf("origins [%s], methods [%s], headers [%s], expose [%s], credentials %v, max_age %ds, forward_preflight %v",
			strings.Join(r.Origins, ", "), strings.Join(r.Methods, ", "), strings.Join(r.Headers, ", "), strings.Join(r.Expose, ", "), r.Credentials, r.MaxAgeSeconds, r.ForwardPreflight))
	}
	return d
}

// thumbprint is a key's RFC 7638 JWK thumbprint (SHA-256 over the
// required members in lexical order): it names a key, and an HMAC
// secret, without revealing it.
func thumbprint(k config.Key) string {
	var members string
	switch k.Kty {
	case "oct":
		members = fmt.Sprintf(`{"k":%q,"kty":"oct"}`, k.K)
	case "RSA":
		members = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, k.E, k.N)
	case "EC":
		members = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Crv, k.X, k.Y)
	case "OKP":
		members = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, k.Crv, k.X)
	default:
		members = k.Kty
	}
	sum := sha256.Sum256([]byte(members))
	label := k.Kty + " " + base64.RawURLEncoding.EncodeToString(sum[:])[:16]
	if k.Kid != "" {
		label = k.Kid + " " + label
	}
	return label
}

// describeScopes says what a route needs of a token's scopes.
func describeScopes(r config.Scopes) string {
	s := "all of [" + strings.Join(r.All, " ") + "]"
	if len(r.Any) > 0 {
		s += ", one of [" + strings.Join(r.Any, " ") + "]"
	}
	return s
}
