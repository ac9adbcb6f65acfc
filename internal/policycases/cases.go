package policycases

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/mint"
	"gopkg.in/yaml.v3"
)

// File is one cases file.
type File struct {
	Cases []Case `yaml:"cases"`
}

// Case is one request and what the filter must answer.
type Case struct {
	Name     string              `yaml:"name"`
	Request  Request             `yaml:"request"`
	Identity *Identity           `yaml:"identity"`
	Token    string              `yaml:"token"` // a raw token instead of an identity
	Expect   Expect              `yaml:"expect"`
	File     string              `yaml:"-"`
	Line     int                 `yaml:"-"`
	Extra    map[string][]string `yaml:"-"`
}

// Request is the request of a case.
type Request struct {
	Method  string            `yaml:"method"`
	Host    string            `yaml:"host"`
	Path    string            `yaml:"path"`
	Headers map[string]string `yaml:"headers"`
}

// Identity describes the token a case sends.
type Identity struct {
	Issuer   string         `yaml:"issuer"`
	Key      string         `yaml:"key"` // private key file, relative to the cases file
	Subject  string         `yaml:"subject"`
	Level    int            `yaml:"level"`
	Roles    []string       `yaml:"roles"`
	Expired  bool           `yaml:"expired"` // exp an hour ago
	Tamper   bool           `yaml:"tamper"`  // signature altered
	Header   string         `yaml:"header"`  // send in this header instead of Authorization: Bearer
	Audience []string       `yaml:"audience"`
	Scopes   []string       `yaml:"scopes"` // the OAuth scopes the token grants
	Claims   map[string]any `yaml:"claims"` // more claims, by claim path (tenant_id, realm_access.roles)
}

// Expect is what the case checks. Status 200 means "allowed". Headers
// lists forwarded identity headers; a value of "-" means "not set".
//
// Kong, when set, is what the case expects on Kong instead, where the
// hosts differ (docs/policy.md lists where and why).
type Expect struct {
	Status  int               `yaml:"status"`
	Reason  string            `yaml:"reason"`
	Headers map[string]string `yaml:"headers"`
	Kong    *Expect           `yaml:"kong"`
}

// On is the expectation for a gateway (config.GatewayKong or
// config.GatewayEnvoy; "" is Envoy's).
func (e Expect) On(gateway string) Expect {
	if gateway == config.GatewayKong && e.Kong != nil {
		return *e.Kong
	}
	return e
}

// Outcome is what a target answered.
type Outcome struct {
	Status  int // 200 when allowed
	Reason  string
	Headers map[string]string // identity headers set on the request, lower-case names
}

// Target runs one request: method, host, path and headers (lower-case
// names, several values allowed).
type Target func(method, host, path string, headers [][2]string) (Outcome, error)

// Files finds the cases files among paths (files or directories).
func Files(paths []string) ([]string, error) {
	out, _, err := compiler.FilesIn(paths, func(name string) bool { return strings.HasSuffix(name, ".cases.yaml") })
	slices.Sort(out)
	return out, err
}

// Load reads cases files, refusing unknown fields.
func Load(files []string) ([]Case, error) {
	var all []Case
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, compiler.Errors{yamlFinding(f, data, err.Error())}
		}
		var cf File
		if err := dec.Decode(&cf); err != nil {
			return nil, caseErrors(f, data, err)
		}
		lines := caseLines(&root)
		for i := range cf.Cases {
			c := &cf.Cases[i]
			c.File = f
			if i < len(lines) {
				c.Line = lines[i]
			}
			if c.Name == "" || c.Request.Path == "" || c.Request.Host == "" || c.Expect.Status == 0 {
				return nil, compiler.Errors{{Pos: compiler.Pos{File: f, Line: c.Line, Col: 5}, Msg: "a case needs name, request.host, request.path and expect.status"}}
			}
			if c.Request.Method == "" {
				c.Request.Method = "GET"
			}
		}
		all = append(all, cf.Cases...)
	}
	return all, nil
}

func caseLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "cases" {
			var out []int
			for _, c := range m.Content[i+1].Content {
				out = append(out, c.Line)
			}
			return out
		}
	}
	return nil
}

// Headers builds a case's request headers, minting its token.
func (c *Case) Headers(cfg *config.Config, now time.Time) ([][2]string, error) {
	var h [][2]string
	keys := make([]string, 0, len(c.Request.Headers))
	for k := range c.Request.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h = append(h, [2]string{strings.ToLower(k), c.Request.Headers[k]})
	}
	raw := c.Token
	if id := c.Identity; id != nil {
		key := ""
		if id.Key != "" {
			key = filepath.Join(filepath.Dir(c.File), id.Key)
		}
		ttl := time.Hour
		if id.Expired {
			ttl = -time.Hour
		}
		tok, err := mint.Token(cfg, id.Issuer, key, mint.Claims{Subject: id.Subject, Level: id.Level, Roles: id.Roles, TTL: ttl, Audience: id.Audience, Scopes: id.Scopes, Extra: id.Claims}, now)
		if err != nil {
			return nil, err
		}
		if id.Tamper {
			tok = tok[:len(tok)-2] + flip(tok[len(tok)-2:])
		}
		raw = tok
		if id.Header != "" {
			h = append(h, [2]string{strings.ToLower(id.Header), raw})
			return h, nil
		}
	}
	if raw != "" {
		h = append(h, [2]string{"authorization", "Bearer " + raw})
	}
	return h, nil
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// Failure is a case whose outcome differs from its expectation.
type Failure struct {
	Case    *Case
	Gateway string // the gateway the case ran for
	Got     Outcome
	Err     error
}

// Expected is what the case expected, as failures print it.
func (f Failure) Expected() string {
	want := f.Case.Expect.On(f.Gateway)
	return describe(want.Status, want.Reason, want.Headers)
}

// GotText is what came instead, as failures print it.
func (f Failure) GotText() string { return describe(f.Got.Status, f.Got.Reason, f.Got.Headers) }

func (f Failure) String() string {
	c := f.Case
	if f.Err != nil {
		return fmt.Sprintf("%s:%d: %s: %v", c.File, c.Line, c.Name, f.Err)
	}
	want := c.Expect.On(f.Gateway)
	return fmt.Sprintf("%s:%d: %s: expected %s, got %s", c.File, c.Line, c.Name, describe(want.Status, want.Reason, want.Headers), describe(f.Got.Status, f.Got.Reason, f.Got.Headers))
}

func describe(status int, reason string, headers map[string]string) string {
	s := fmt.Sprintf("%d %s", status, reason)
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%q", strings.ToLower(k), headers[k])
	}
	return s
}

// Check compares an outcome with a case's expectation.
func (c *Case) Check(got Outcome) bool { return c.CheckOn("", got) }

// CheckOn compares an outcome with the case's expectation on a gateway.
func (c *Case) CheckOn(gateway string, got Outcome) bool {
	want := c.Expect.On(gateway)
	if got.Status != want.Status || (want.Reason != "" && got.Reason != want.Reason) {
		return false
	}
	for k, want := range want.Headers {
		v, ok := got.Headers[strings.ToLower(k)]
		if want == "-" && ok || want != "-" && v != want {
			return false
		}
	}
	return true
}

// Run runs every case against target and returns the failures.
func Run(cases []Case, cfg *config.Config, target Target, now time.Time) []Failure {
	var fails []Failure
	for i := range cases {
		c := &cases[i]
		h, err := c.Headers(cfg, now)
		if err != nil {
			fails = append(fails, Failure{Case: c, Err: err})
			continue
		}
		got, err := target(c.Request.Method, c.Request.Host, c.Request.Path, h)
		if err != nil {
			fails = append(fails, Failure{Case: c, Err: err})
			continue
		}
		if !c.CheckOn(cfg.Gateway, got) {
			fails = append(fails, Failure{Case: c, Gateway: cfg.Gateway, Got: got})
		}
	}
	return fails
}

// Watched collects, from the headers an upstream received, the ones a
// case may check: the example's forwarded identity headers and the
// override headers the filter strips, under their lower-case names with
// "_" read as "-" (so a look-alike that got through shows as the header
// it imitates).
func Watched(received [][2]string) map[string]string {
	out := map[string]string{}
	for _, kv := range received {
		name := strings.ReplaceAll(strings.ToLower(kv[0]), "_", "-")
		switch {
		case name == "x-auth-phone", name == "x-auth-level", name == "x-auth-roles", config.IsOverrideHeader(name):
			out[name] = kv[1]
		}
	}
	return out
}

// caseErrors turns yaml.v3's decoding errors ("line 3: field methd not
// found in type policycases.Request") into positioned findings in the
// words of the policy compiler, without Go's type names.
func caseErrors(file string, src []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return compiler.Errors{yamlFinding(file, src, err.Error())}
	}
	var out compiler.Errors
	for _, msg := range te.Errors {
		out = append(out, yamlFinding(file, src, msg))
	}
	return out
}

// yamlFinding positions one yaml.v3 message: its line, and the column
// of the field or value it names on that line.
func yamlFinding(file string, src []byte, msg string) *compiler.Error {
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if _, e := fmt.Sscanf(rest[:i], "%d", &line); e == nil {
				msg = rest[i+2:]
			}
		}
	}
	text := ""
	if lines := strings.Split(string(src), "\n"); line >= 1 && line <= len(lines) {
		text = lines[line-1]
	}
	col := 1
	at := func(word string) {
		if i := strings.Index(text, word); i >= 0 {
			col = i + 1
		}
	}
	switch {
	case strings.HasPrefix(msg, "field ") && strings.Contains(msg, " not found in type "):
		name := strings.TrimPrefix(msg[:strings.Index(msg, " not found")], "field ")
		at(name + ":")
		msg = fmt.Sprintf("unknown field %q", name)
	case strings.HasPrefix(msg, "cannot unmarshal "):
		// "cannot unmarshal !!str `abc` into int"
		value, want := "", ""
		if a, b := strings.Index(msg, "`"), strings.LastIndex(msg, "`"); a >= 0 && b > a {
			value = msg[a+1 : b]
		}
		if i := strings.LastIndex(msg, " into "); i >= 0 {
			want = msg[i+len(" into "):]
		}
		want = map[string]string{"int": "a number", "string": "a string", "bool": "true or false"}[want]
		if want == "" {
			want = "another kind of value"
		}
		if value != "" {
			at(value)
			msg = fmt.Sprintf("expected %s, not %q", want, value)
		} else {
			msg = "expected " + want
		}
	default:
		msg = "invalid YAML: " + msg
	}
	return &compiler.Error{Pos: compiler.Pos{File: file, Line: line, Col: col}, Msg: msg}
}
