package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/internal/policycases"
)

// Output formats of check and test, for people and for CI.
const (
	formatText   = "text"
	formatGitHub = "github" // GitHub Actions workflow commands
	formatJSON   = "json"
)

func validFormat(f string, allowed ...string) bool {
	for _, a := range allowed {
		if f == a {
			return true
		}
	}
	return false
}

// finding is a compiler finding as the machine formats give it.
type finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Severity string `json:"severity"` // error or warning
	Message  string `json:"message"`
}

func findingsOf(res *compiler.Result, err error) (out []finding, other error) {
	add := func(e *compiler.Error) {
		sev := "error"
		if e.Warning {
			sev = "warning"
		}
		out = append(out, finding{e.Pos.File, e.Pos.Line, e.Pos.Col, sev, e.Msg})
	}
	if res != nil {
		for _, w := range res.Warnings {
			add(w)
		}
	}
	var errs compiler.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			add(e)
		}
		return out, nil
	}
	return out, err
}

// githubEscape escapes a workflow command's message (data) or property.
func githubEscape(s string, property bool) string {
	r := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	s = r.Replace(s)
	if property {
		s = strings.NewReplacer(":", "%3A", ",", "%2C").Replace(s)
	}
	return s
}

// writeFindings writes findings as GitHub workflow commands or as JSON.
func writeFindings(w io.Writer, format string, fs []finding, summary map[string]any) error {
	errs, warns := 0, 0
	for _, f := range fs {
		if f.Severity == "error" {
			errs++
		} else {
			warns++
		}
	}
	var b strings.Builder
	switch format {
	case formatGitHub:
		for _, f := range fs {
			fmt.Fprintf(&b, "::%s file=%s,line=%d,col=%d::%s\n", f.Severity, githubEscape(f.File, true), f.Line, f.Col, githubEscape(f.Message, false))
		}
		if summary != nil {
			fmt.Fprintf(&b, "%s: ok: %v services, %v routes, %v roles, %v warnings, table %v bytes\n",
				summary["policy"], summary["services"], summary["routes"], summary["roles"], summary["warnings"], summary["table_bytes"])
		}
	case formatJSON:
		if fs == nil {
			fs = []finding{}
		}
		doc := map[string]any{"ok": summary != nil, "findings": fs}
		if summary == nil { // failed: what a CI step reads is still there
			summary = map[string]any{"warnings": warns}
		}
		summary["errors"] = errs
		doc["summary"] = summary
		data, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		b.Write(append(data, '\n'))
	}
	return writeStdout(w, []byte(b.String()))
}

// caseResult is one case's outcome as test's machine formats give it.
type caseResult struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Passed   bool   `json:"passed"`
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`
	Error    string `json:"error,omitempty"`
}

func caseResults(cases []policycases.Case, fails []policycases.Failure) []caseResult {
	failed := map[*policycases.Case]policycases.Failure{}
	for _, f := range fails {
		failed[f.Case] = f
	}
	out := make([]caseResult, 0, len(cases))
	for i := range cases {
		c := &cases[i]
		r := caseResult{Name: c.Name, File: c.File, Line: c.Line, Passed: true}
		if f, ok := failed[c]; ok {
			r.Passed = false
			if f.Err != nil {
				r.Error = f.Err.Error()
			} else {
				r.Expected, r.Got = f.Expected(), f.GotText()
			}
		}
		out = append(out, r)
	}
	return out
}

// junit writes the results as a JUnit XML report, one test case per
// policy case, which CI systems show as tests.
func junit(results []caseResult) ([]byte, error) {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		File      string   `xml:"file,attr"`
		Line      int      `xml:"line,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "keycard policy cases", Tests: len(results)}
	for _, r := range results {
		tc := testcase{Name: r.Name, Classname: r.File, File: r.File, Line: r.Line}
		if !r.Passed {
			s.Failures++
			msg := r.Error
			if msg == "" {
				msg = "expected " + r.Expected + ", got " + r.Got
			}
			tc.Failure = &failure{Message: msg, Text: fmt.Sprintf("%s:%d: %s", r.File, r.Line, msg)}
		}
		s.Cases = append(s.Cases, tc)
	}
	data, err := xml.MarshalIndent(struct {
		XMLName xml.Name `xml:"testsuites"`
		Suite   suite
	}{Suite: s}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(data, '\n')...), nil
}
