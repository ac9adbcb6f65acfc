package filter

import (
	"strings"

	"github.com/keycard-gw/keycard/config"
)

// Gateway is what one gateway's proxy-wasm host presents and allows,
// read from the hosts' sources (docs/hosts.md cites them) and held to the
// real hosts by internal/testing. The filter reads these traits instead
// of asking which gateway it runs in, and the wazero model of the hosts
// (internal/wasmhost) takes the same traits from the same configuration
// value: one knob, config.Config.Gateway.
type Gateway struct {
	Name string

	// HostHeader: the client's host is the Host header; ":authority" is
	// the server's own name and port (Kong: nginx's server_name).
	HostHeader bool
	// TargetProperty names the property holding the request target as
	// the client sent it, when ":path" is not it (Kong: nginx's decoded,
	// normalised URI; request.path is $request_uri).
	TargetProperty Property
	// RouteHostProperty names the property holding the host the server
	// routes and proxies by, when it may differ from the Host header
	// (nginx's $host, which an absolute-form request line sets).
	RouteHostProperty Property
	// RequestLineProperty names the property holding the request line
	// as the client sent it (nginx's $request_line). When its target is
	// in origin form, it is the target TargetProperty holds, and the
	// server routes by the Host header: one host call instead of two
	// (OriginTarget). Any other line falls back to the two properties.
	RequestLineProperty Property
	// RemovesHeaders: a request header the module removes does not
	// reach the upstream. Kong's host only marks it, and nginx's proxy
	// module still sends it.
	RemovesHeaders bool
	// SetsForwardedPath: the host's proxy sets X-Forwarded-Path and
	// X-Forwarded-Prefix itself (Kong's proxy_set_header), replacing a
	// client's copy spelled as the header is.
	SetsForwardedPath bool
	// AnswersAtRoot: a call-out's answer reaches the root context, and
	// proxy_set_effective_context chooses the request later host calls
	// act on, so requests may wait for another's call. Kong delivers it
	// on the request that called and ignores the switch.
	AnswersAtRoot bool
	// SkipsMissingCallbacks: a callback the module does not export is
	// skipped. Kong calls proxy_on_request_body, the response callbacks,
	// proxy_on_done, proxy_on_log and proxy_on_delete without checking.
	SkipsMissingCallbacks bool
	// TickPeriodOnce: the tick period may be set once per root.
	TickPeriodOnce bool
	// LowerCaseHeaders: header names reach the module in lower case.
	LowerCaseHeaders bool
	// CallsDuringConfigure: dispatch_http_call is allowed in
	// proxy_on_configure (Kong traps).
	CallsDuringConfigure bool
}

var gateways = map[string]*Gateway{
	config.GatewayKong: {
		Name:              config.GatewayKong,
		HostHeader:        true,
		TargetProperty:    PropertyPath("request", "path"),
		RouteHostProperty: PropertyPath("ngx", "host"),
		// ngx_http_variable_request_line; nginx builds an HTTP/2 or
		// HTTP/3 request's line from its method and :path
		// (ngx_http_v2_construct_request_line), and their :authority is
		// the Host header (ngx_http_v2_parse_authority).
		RequestLineProperty: PropertyPath("ngx", "request_line"),
		SetsForwardedPath:   true,
		TickPeriodOnce:      true,
	},
	config.GatewayEnvoy: {
		Name:                  config.GatewayEnvoy,
		RemovesHeaders:        true,
		AnswersAtRoot:         true,
		SkipsMissingCallbacks: true,
		LowerCaseHeaders:      true,
		CallsDuringConfigure:  true,
	},
}

// Property is a host property's path as proxy_get_property takes it,
// its parts joined by NUL, made once: the filter reads one or two on
// every request, and joining them each time is copies inside wasm. ""
// is no property.
type Property string

// PropertyPath joins a property's parts.
func PropertyPath(parts ...string) Property { return Property(strings.Join(parts, "\x00")) }

// String is the property's dotted name, for logs: request.path.
func (p Property) String() string { return strings.ReplaceAll(string(p), "\x00", ".") }

// GatewayOf returns a gateway's traits, or false for a name that is no
// gateway's.
func GatewayOf(name string) (*Gateway, bool) {
	g, ok := gateways[name]
	return g, ok
}

// OriginTarget returns the request target of an HTTP request line
// ("GET /a?b HTTP/1.1") when it is in origin form: a method, spaces, a
// target that starts with "/" and holds no space or control byte, then
// nothing or spaces and an HTTP version. nginx's $request_uri is that
// target, and its $host is the Host header's. Any other line (an
// absolute-form target, "*", a line nginx would not have parsed so) is
// not ok: the caller reads the target and the host some other way.
func OriginTarget(line string) (string, bool) {
	// Byte loops rather than strings.Trim*: this runs on every request,
	// and the cutset functions cost more than the line inside wasm.
	sp := indexByte(line, ' ') // the method's end
	if sp <= 0 {
		return "", false
	}
	start := sp + 1
	for start < len(line) && line[start] == ' ' {
		start++
	}
	if start == len(line) || line[start] != '/' {
		return "", false
	}
	end := start
	for end < len(line) && line[end] > ' ' && line[end] != 0x7f {
		end++
	}
	if end == len(line) {
		return line[start:], true // HTTP/0.9
	}
	v := end
	for v < len(line) && line[v] == ' ' {
		v++
	}
	last := len(line)
	for last > v && line[last-1] == ' ' {
		last--
	}
	version := line[v:last]
	if len(version) <= len("HTTP/") || version[:len("HTTP/")] != "HTTP/" {
		return "", false
	}
	for i := len("HTTP/"); i < len(version); i++ {
		if c := version[i]; (c < '0' || c > '9') && c != '.' {
			return "", false
		}
	}
	return line[start:end], true
}
