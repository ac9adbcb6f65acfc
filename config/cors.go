package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/keycard-gw/keycard/table"
)

// CORS is one cross-origin rule: the policy's (Service ""), a service's
// (Line 0) or a route's (Line: the route's line in the policy, which the
// table's rule carries). The most specific one that exists applies to a
// request; none means cross-origin requests get no CORS headers and
// preflights get 403.
type CORS struct {
	Service string `json:"service,omitempty"`
	Line    int    `json:"line,omitempty"`
	Route   string `json:"route,omitempty"` // the route's pattern as written, to name it (keycard diff)

	// Origins are exact origins ("https://shop.example"), origins with a
	// wildcard for one or more leading labels of the host
	// ("https://*.shop.example"), or "*" for any.
	Origins       []string `json:"origins"`
	Methods       []string `json:"methods,omitempty"` // methods a preflight may ask for; none: the route's
	Headers       []string `json:"headers,omitempty"` // request headers a preflight may ask for, lower case
	Expose        []string `json:"expose,omitempty"`  // response headers the browser may read
	Credentials   bool     `json:"credentials,omitempty"`
	MaxAgeSeconds int      `json:"max_age_seconds,omitempty"`

	// ForwardPreflight (a service's rule only) sends a preflight the rule
	// allows on to the upstream, without a body, instead of answering it.
	ForwardPreflight bool `json:"forward_preflight,omitempty"`
}

// MaxCORSAge bounds max_age: browsers cap it lower anyway (Chromium at
// two hours).
const MaxCORSAge = 24 * 3600

func (c *CORS) validate() error {
	if len(c.Origins) == 0 {
		return errors.New("no origins")
	}
	for _, o := range c.Origins {
		if err := CheckOrigin(o); err != nil {
			return err
		}
		if o == "*" && c.Credentials {
			return errors.New(`origin "*" with credentials: browsers refuse it; list the origins`)
		}
	}
	for _, m := range c.Methods {
		if table.ParseMethod(m) == 0 {
			return fmt.Errorf("method %q is not one of %s", m, strings.Join(table.MethodNames(), " "))
		}
	}
	for _, list := range [][]string{c.Headers, c.Expose} {
		for _, h := range list {
			if !IsToken(h) {
				return fmt.Errorf("bad header name %q", h)
			}
		}
	}
	for _, h := range c.Headers {
		if h != strings.ToLower(h) {
			return fmt.Errorf("header %q is not lower case", h)
		}
	}
	if c.MaxAgeSeconds < 0 || c.MaxAgeSeconds > MaxCORSAge {
		return fmt.Errorf("max_age_seconds %d not in 0..%d", c.MaxAgeSeconds, MaxCORSAge)
	}
	if c.ForwardPreflight && (c.Service == "" || c.Line != 0) {
		return errors.New("forward_preflight is a service's choice, not the policy's or a route's")
	}
	return nil
}

// CheckOrigin checks an allowed origin as a policy writes it: "*", or
// scheme://host[:port] in lower case with nothing after, where the host
// may start with "*." (one or more labels).
func CheckOrigin(o string) error {
	if o == "*" {
		return nil
	}
	bad := func(why string) error { return fmt.Errorf("origin %q: %s", o, why) }
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return bad("must be http:// or https:// and a host, as browsers send it")
	}
	if o != strings.ToLower(o) {
		return bad("browsers send origins in lower case")
	}
	host := strings.TrimPrefix(rest, "*.")
	if host == "" || strings.ContainsAny(host, "/?#@*") {
		return bad("only scheme, host and port; a wildcard only as the first label (*.)")
	}
	u, err := url.Parse(scheme + "://" + host)
	if err != nil || u.Host != host || u.Hostname() == "" {
		return bad("not a host[:port]")
	}
	return nil
}
