package filter

import "github.com/keycard-gw/keycard/config"

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
	TargetProperty []string
	// RouteHostProperty names the property holding the host the server
	// routes and proxies by, when it may differ from the Host header
	// (nginx's $host, which an absolute-form request line sets).
	RouteHostProperty []string
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
		TargetProperty:    []string{"request", "path"},
		RouteHostProperty: []string{"ngx", "host"},
		SetsForwardedPath: true,
		TickPeriodOnce:    true,
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

// GatewayOf returns a gateway's traits, or false for a name that is no
// gateway's.
func GatewayOf(name string) (*Gateway, bool) {
	g, ok := gateways[name]
	return g, ok
}
