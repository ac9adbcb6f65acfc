package policydiff

import (
	"encoding/json"
	"fmt"
	"strings"
)

func (c *Change) route() string {
	switch {
	case c.RouteBefore == c.RouteAfter && c.RouteAfter == "":
		return "no route"
	case c.RouteBefore == c.RouteAfter:
		return c.RouteAfter
	case c.RouteBefore == "":
		return c.RouteAfter + " (new match; before: no route)"
	case c.RouteAfter == "":
		return "no route (before: " + c.RouteBefore + ")"
	default:
		return c.RouteAfter + " (before: " + c.RouteBefore + ")"
	}
}

func (c *Change) methods() string {
	if c.Methods == nil {
		return "any method"
	}
	return strings.Join(c.Methods, ",")
}

func (c *Change) service() string {
	if c.Service == "" {
		return "(no service)"
	}
	return c.Service
}

// Text is the diff for a terminal: one line per group of requests.
func Text(r *Report) string {
	if r.Empty() {
		return "no change\n"
	}
	var b strings.Builder
	if len(r.Decisions) > 0 {
		fmt.Fprintf(&b, "%d change(s) of decision:\n", len(r.Decisions))
		for _, c := range r.Decisions {
			fmt.Fprintf(&b, "  %s %s, %s on %s, for %s: %s -> %s (e.g. %s)\n",
				c.service(), c.route(), c.methods(), strings.Join(c.Hosts, ", "), strings.Join(c.Callers, "; "), c.Before, c.After, c.Example)
		}
	}
	if len(r.Settings) > 0 {
		fmt.Fprintf(&b, "%d change(s) of settings:\n", len(r.Settings))
		for _, s := range r.Settings {
			fmt.Fprintf(&b, "  %s: %s -> %s\n", s.What, s.Before, s.After)
		}
	}
	return b.String()
}

// Markdown is the diff for a pull-request comment.
func Markdown(r *Report) string {
	if r.Empty() {
		return "**Keycard policy diff:** no change of decision or settings.\n"
	}
	cell := func(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }
	var b strings.Builder
	b.WriteString("### Keycard policy diff\n\n")
	if len(r.Decisions) > 0 {
		fmt.Fprintf(&b, "%d change(s) of decision:\n\n| service | route | methods | hosts | callers | before | after |\n|---|---|---|---|---|---|---|\n", len(r.Decisions))
		for _, c := range r.Decisions {
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s | **%s** |\n", cell(c.service()), cell(c.route()), cell(c.methods()),
				cell(strings.Join(c.Hosts, ", ")), cell(strings.Join(c.Callers, "; ")), cell(c.Before), cell(c.After))
		}
		b.WriteString("\n")
	}
	if len(r.Settings) > 0 {
		fmt.Fprintf(&b, "%d change(s) of settings:\n\n| setting | before | after |\n|---|---|---|\n", len(r.Settings))
		for _, s := range r.Settings {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(s.What), cell(s.Before), cell(s.After))
		}
	}
	return b.String()
}

// JSON is the diff for programs.
func JSON(r *Report) ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	return append(data, '\n'), err
}
