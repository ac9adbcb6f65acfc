// Command keycard compiles, checks, explains and tests Keycard policies.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
