package filter

import (
	"errors"
	"strconv"
	"strings"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/httppath"
	"github.com/keycard-gw/keycard/table"
)

// corsRule is a config.CORS made ready for requests.
type corsRule struct {
	anyOrigin   bool
	exact       map[string]bool
	wildcards   [][2]string     // scheme "://", host suffix "." + parent: "*.shop.example" is {"https://", ".shop.example"}
	methods     table.MethodSet // 0: the route's
	headers     map[string]bool
	credentials bool
	forward     bool
	maxAge      string // "" when not given
	expose      string // joined; "" when none
}

// corsRules are a configuration's rules by where they apply.
type corsRules struct {
	policy   *corsRule
	services map[string]*corsRule
	routes   map[corsRoute]*corsRule
}

type corsRoute struct {
	service string
	line    int
}

func newCORSRules(list []config.CORS) corsRules {
	rs := corsRules{services: map[string]*corsRule{}, routes: map[corsRoute]*corsRule{}}
	for i := range list {
		c := &list[i]
		r := &corsRule{exact: map[string]bool{}, headers: map[string]bool{}, credentials: c.Credentials, forward: c.ForwardPreflight, expose: strings.Join(c.Expose, ", ")}
		for _, o := range c.Origins {
			switch scheme, host, _ := strings.Cut(o, "://"); {
			case o == "*":
				r.anyOrigin = true
			case strings.HasPrefix(host, "*."):
				r.wildcards = append(r.wildcards, [2]string{scheme + "://", host[1:]})
			default:
				r.exact[o] = true
			}
		}
		for _, m := range c.Methods {
			r.methods |= table.ParseMethod(m)
		}
		r.methods = table.WithHead(r.methods)
		for _, h := range c.Headers {
			r.headers[h] = true
		}
		if c.MaxAgeSeconds > 0 {
			r.maxAge = strconv.Itoa(c.MaxAgeSeconds)
		}
		switch {
		case c.Service == "":
			rs.policy = r
		case c.Line == 0:
			rs.services[c.Service] = r
		default:
			rs.routes[corsRoute{c.Service, c.Line}] = r
		}
	}
	return rs
}

// none reports whether the configuration has no rule at all.
func (rs *corsRules) none() bool {
	return rs.policy == nil && len(rs.services) == 0 && len(rs.routes) == 0
}

// forRequest is the rule for a request matched to service and a route
// at line (0: none): the route's, else the service's, else the policy's.
func (rs *corsRules) forRequest(service string, line int) *corsRule {
	if r, ok := rs.routes[corsRoute{service, line}]; ok && line > 0 {
		return r
	}
	if r, ok := rs.services[service]; ok {
		return r
	}
	return rs.policy
}

// allowsOrigin reports whether the rule allows a request from origin
// (compared as browsers send it: lower case; "null" is never allowed
// but by "*").
func (r *corsRule) allowsOrigin(origin string) bool {
	if r.anyOrigin {
		return true
	}
	if r.exact[origin] {
		return true
	}
	for _, w := range r.wildcards {
		rest, ok := strings.CutPrefix(origin, w[0])
		if !ok {
			continue
		}
		// One or more labels before the suffix (which holds the port, if
		// any), and nothing but labels.
		labels := strings.TrimSuffix(rest, w[1])
		if labels != rest && labels != "" && !strings.ContainsAny(labels, ":/?#@ ") {
			return true
		}
	}
	return false
}

// allowOrigin is the Access-Control-Allow-Origin value for an allowed
// origin: "*" where any origin is allowed without credentials, else the
// origin itself (which the response then varies by).
func (r *corsRule) allowOrigin(origin string) string {
	if r.anyOrigin && !r.credentials {
		return "*"
	}
	return origin
}

// responseHeaders are the CORS headers of a response to an allowed
// cross-origin request (not a preflight).
func (r *corsRule) responseHeaders(origin string) [][2]string {
	h := [][2]string{{"access-control-allow-origin", r.allowOrigin(origin)}, {"vary", "Origin"}}
	if r.credentials {
		h = append(h, [2]string{"access-control-allow-credentials", "true"})
	}
	if r.expose != "" {
		h = append(h, [2]string{"access-control-expose-headers", r.expose})
	}
	return h
}

// CORS-safelisted request headers (Fetch standard): a preflight may name
// them without a rule listing them.
var safelisted = map[string]bool{"accept": true, "accept-language": true, "content-language": true, "content-type": true, "range": true}

var (
	errCORSOrigin  = errors.New("the origin is not allowed")
	errCORSMethod  = errors.New("the method is not allowed")
	errCORSHeaders = errors.New("a requested header is not allowed")
	errCORSRoute   = errors.New("no route takes the requested method")
	errCORSNone    = errors.New("no cors rule applies")
	errCORSBody    = errors.New("a preflight forwarded to the upstream carries no body")
)

// isPreflight reports whether a request is a CORS preflight: OPTIONS
// with Origin and Access-Control-Request-Method.
func isPreflight(r *Request) bool {
	return r.Method == "OPTIONS" && asksPreflight(r.Headers) // the method first, inlined: no call for the others
}

func asksPreflight(h Headers) bool {
	return has(h, "origin") && has(h, "access-control-request-method")
}

// preflight decides a CORS preflight from the rule of the route the
// requested method would reach: answered by the filter (204 with the
// CORS headers) when the rule allows the origin, method and headers, else
// 403 cors_not_allowed; forwarded without a body where the service opts
// in. It never asks for a token: a preflight carries none.
func (e *Engine) preflight(r *Request, host, path string) Decision {
	origin, _ := r.Headers.Get("origin")
	method, _ := r.Headers.Get("access-control-request-method")
	refuse := func(d Decision, err error) Decision {
		return into(d, withDetail(deny(403, ReasonCORS), err))
	}
	d := Decision{Route: -1}
	if httppath.Method(method) != nil {
		return refuse(d, errCORSMethod)
	}
	m := e.tb.Lookup(host, method, path)
	if m.Service < 0 {
		return refuse(d, errCORSRoute)
	}
	d.Service = e.tb.ServiceName(m.Service)
	var routeMethods table.MethodSet
	if m.Rule >= 0 {
		rule := e.tb.Rule(m.Rule)
		d.Route, d.RouteLine, routeMethods = m.Rule, int(rule.Line), rule.Methods
	} else if e.tb.ServiceDefault(m.Service) != table.DefaultAllow {
		return refuse(d, errCORSRoute)
	}
	c := e.cors.forRequest(d.Service, d.RouteLine)
	switch {
	case c == nil:
		return refuse(d, errCORSNone)
	case !c.allowsOrigin(origin):
		return refuse(d, errCORSOrigin)
	case c.methods != 0 && !c.methods.Allows(table.ParseMethod(method)):
		return refuse(d, errCORSMethod)
	}
	var asked []string
	for _, v := range r.Headers.Values("access-control-request-headers") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.ToLower(strings.TrimSpace(h)); h == "" {
				continue
			}
			if !c.headers[h] && !safelisted[h] {
				return refuse(d, errCORSHeaders)
			}
			asked = append(asked, h)
		}
	}
	if c.forward {
		if hasBody(r) {
			return into(d, withDetail(deny(400, ReasonBadRequest), errCORSBody))
		}
		d.Allow, d.Reason = true, ReasonPreflight
		return d
	}
	allowMethods := method
	switch {
	case c.methods != 0 && routeMethods != 0:
		allowMethods = (c.methods & routeMethods).String()
	case c.methods != 0:
		allowMethods = c.methods.String()
	case routeMethods != 0:
		allowMethods = routeMethods.String()
	}
	h := [][2]string{{"access-control-allow-origin", c.allowOrigin(origin)}, {"access-control-allow-methods", allowMethods},
		{"vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}
	if len(asked) > 0 {
		h = append(h, [2]string{"access-control-allow-headers", strings.Join(asked, ", ")})
	}
	if c.credentials {
		h = append(h, [2]string{"access-control-allow-credentials", "true"})
	}
	if c.maxAge != "" {
		h = append(h, [2]string{"access-control-max-age", c.maxAge})
	}
	d.Answered, d.Status, d.Reason, d.CORS = true, 204, ReasonPreflight, h
	return d
}

// hasBody reports whether a request says it carries a body.
func hasBody(r *Request) bool {
	for _, v := range r.Headers.Values("content-length") {
		if strings.TrimSpace(v) != "0" {
			return true
		}
	}
	return has(r.Headers, "transfer-encoding")
}

// withCORS adds the CORS response headers to a decided cross-origin
// request (its Origin allowed by the rule where it landed), for the
// filter's own answer or the upstream's.
// Its caller, decide, calls it only where the policy has a rule.
func (e *Engine) withCORS(r *Request, d *Decision) {
	if d.Answered || d.Service == "" {
		return
	}
	origin, ok := r.Headers.Get("origin")
	if !ok {
		return
	}
	if c := e.cors.forRequest(d.Service, d.RouteLine); c != nil && c.allowsOrigin(origin) {
		d.CORS = c.responseHeaders(origin)
	}
}
