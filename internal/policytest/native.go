package policytest

import (
	"github.com/keycard-gw/keycard/filter"
)

// HeaderList is request headers as lower-case name/value pairs.
type HeaderList [][2]string

// Values returns every value of a header.
func (h HeaderList) Values(name string) []string {
	var out []string
	for _, kv := range h {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out
}

// Native runs cases through the decision code in this process.
func Native(e *filter.Engine) Target {
	return func(method, host, path string, headers [][2]string) (Outcome, error) {
		d := e.Decide(&filter.Request{Method: method, Authority: host, Path: path, Headers: HeaderList(headers)})
		return OutcomeOf(&d), nil
	}
}

// OutcomeOf turns a decision into the outcome cases compare.
func OutcomeOf(d *filter.Decision) Outcome {
	o := Outcome{Status: d.Status, Reason: d.Reason, Headers: map[string]string{}}
	if d.Allow {
		o.Status = 200
	}
	for _, kv := range d.Set {
		o.Headers[kv[0]] = kv[1]
	}
	return o
}
