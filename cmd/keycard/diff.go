package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/keycard-gw/keycard/compiler"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/policydiff"
)

// cmdDiff compares two policies: two paths, or two git revisions of the
// policy paths after "--".
func cmdDiff(args []string, stdout, stderr io.Writer) int {
	// REV REV -- PATH...: flags may also follow the paths.
	var revPaths []string
	if i := indexOf(args, "--"); i >= 0 {
		rest := args[i+1:]
		args = append([]string(nil), args[:i]...)
		revPaths = []string{}
		for j := 0; j < len(rest); j++ {
			switch a := rest[j]; {
			case a == "--format" || a == "-format":
				args = append(args, a)
				if j+1 < len(rest) {
					args = append(args, rest[j+1])
					j++
				}
			case strings.HasPrefix(a, "-"):
				args = append(args, a)
			default:
				revPaths = append(revPaths, a)
			}
		}
	}
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	format := fs.String("format", "text", "text, markdown (a pull-request comment) or json")
	changedExit := fs.Bool("exit-code", false, "exit 1 when anything changed, as git diff --exit-code")
	pos, code, ok := parseUsage(fs, args, stdout, stderr, func(pos []string) bool { return len(pos) == 2 && (revPaths == nil || len(revPaths) > 0) },
		"usage: keycard diff OLD NEW, or keycard diff REV REV -- POLICY...")
	if !ok {
		return code
	}
	if *format != "text" && *format != "markdown" && *format != "json" {
		fmt.Fprintf(stderr, "keycard diff: --format %q: text, markdown or json\n", *format)
		return 2
	}
	var sides [2]policydiff.Side
	for i, side := range pos {
		if revPaths == nil {
			if art, ok, err := artifact(side); err != nil {
				return fail(stderr, err)
			} else if ok {
				sides[i] = art
				continue
			}
		}
		paths := []string{side}
		if revPaths != nil {
			dir, err := checkout(side, revPaths)
			if err != nil {
				return fail(stderr, err)
			}
			defer os.RemoveAll(dir)
			paths = nil
			for _, p := range revPaths {
				paths = append(paths, filepath.Join(dir, p))
			}
		}
		res := compilePolicy(paths, compiler.Settings{}, stderr)
		if res == nil {
			return 1
		}
		sides[i] = policydiff.FromResult(res)
	}
	r, err := policydiff.DiffSides(sides[0], sides[1])
	if err != nil {
		return fail(stderr, err)
	}
	var out []byte
	switch *format {
	case "text":
		out = []byte(policydiff.Text(r))
	case "markdown":
		out = []byte(policydiff.Markdown(r))
	case "json":
		if out, err = policydiff.JSON(r); err != nil {
			return fail(stderr, err)
		}
	}
	if err := writeStdout(stdout, out); err != nil {
		return fail(stderr, err)
	}
	if *changedExit && !r.Empty() {
		return 1
	}
	return 0
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// checkout writes the files of the given paths at a git revision into a
// temporary directory, under the same relative paths.
func checkout(rev string, paths []string) (string, error) {
	if strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("%q is not a revision", rev)
	}
	list, err := exec.Command("git", append([]string{"ls-tree", "-r", "--name-only", rev, "--"}, paths...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git ls-tree %s: %s", rev, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git: %v", err)
	}
	files := strings.Fields(string(list))
	if len(files) == 0 {
		return "", fmt.Errorf("revision %s has no files under %s", rev, strings.Join(paths, " "))
	}
	dir, err := os.MkdirTemp("", "keycard-diff-")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		data, err := exec.Command("git", "show", rev+":./"+f).Output()
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("git show %s:%s: %v", rev, f, err)
		}
		dst := filepath.Join(dir, f)
		err = os.MkdirAll(filepath.Dir(dst), 0o755)
		if err == nil {
			err = os.WriteFile(dst, data, 0o644)
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// artifact reads a side that is a compiled filter configuration
// (keycard compile --format json), reporting false for a policy path.
func artifact(path string) (policydiff.Side, bool, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		return policydiff.Side{}, false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return policydiff.Side{}, false, err
	}
	if len(data) > 0 && data[0] != '{' {
		return policydiff.Side{}, false, fmt.Errorf("%s: a binary table holds no configuration (issuers, levels): diff a policy, or an artifact of keycard compile --format json", path)
	}
	cfg, tb, err := config.Decode(data)
	if err != nil {
		return policydiff.Side{}, false, fmt.Errorf("%s: %v", path, err)
	}
	return policydiff.Side{Config: cfg, Table: tb}, true, nil
}
