// Package envflag backs command-line flags with environment variables
// without ever printing a variable's value: the flag's default stays
// its built-in one, its usage names the variable and says whether it is
// set, and Apply gives the flag the variable's value after parsing when
// the command line did not give one. Keys and passwords kept in the
// environment so stay out of --help, usage after a mistyped flag, and
// errors.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"sync"
)

var (
	mu    sync.Mutex
	bound = map[*flag.FlagSet][][2]string{} // flag name, variable
)

// Bind backs flag name of fs (already defined) with the variable env.
func Bind(fs *flag.FlagSet, name, env string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("envflag: no flag " + name)
	}
	note := " (default $" + env + ")"
	if _, set := os.LookupEnv(env); set {
		note = " (default $" + env + ", set)"
	}
	f.Usage += note
	mu.Lock()
	bound[fs] = append(bound[fs], [2]string{name, env})
	mu.Unlock()
}

// Apply sets every bound flag the command line did not set from its
// variable, parsed as the flag parses its argument. An error names the
// variable, never its value.
func Apply(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	mu.Lock()
	list := bound[fs]
	mu.Unlock()
	for _, b := range list {
		v, ok := os.LookupEnv(b[1])
		if !ok || given[b[0]] {
			continue
		}
		if err := fs.Set(b[0], v); err != nil {
			return fmt.Errorf("$%s: not a valid value for --%s", b[1], b[0])
		}
	}
	return nil
}
