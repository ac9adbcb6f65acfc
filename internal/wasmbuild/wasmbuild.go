// Package wasmbuild builds the filter module: `go build` for wasip1 as a
// c-shared reactor, then one documented post-link fix-up of its imports.
//
// The fix-up: golang-jwt imports crypto/x509, which imports net, whose
// package initialisers keep a closure that opens files; through os.Stat
// that links wasi_snapshot_preview1.path_filestat_get, which released Envoy
// does not provide, so Envoy would refuse to load the module even though
// the closure never runs (the filter does no file I/O). Patch retargets
// that one import to env.proxy_get_header_map_value, a host call with the
// same signature (five i32 in, one i32 out) that Envoy and Kong both
// provide. The wasmhost refuses a call to it with a map type past 7 (what
// a stray stat call would pass), so the tests prove it is never reached.
// See RATIONALE.md.
package wasmbuild

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// The import the fix-up retargets, and its new target.
const (
	FromModule = "wasi_snapshot_preview1"
	FromName   = "path_filestat_get"
	ToModule   = "env"
	ToName     = "proxy_get_header_map_value"
)

// Build compiles the filter package (import path pkg, such as
// "./filter/wasm", relative to dir) with the given build tags and writes
// the patched module to out.
func Build(dir, pkg, out string, tags ...string) error {
	raw := out + ".raw"
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-o", raw}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(goTool(), append(args, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("wasmbuild: go build: %v\n%s", err, msg)
	}
	defer os.Remove(raw)
	data, err := os.ReadFile(raw)
	if err != nil {
		return err
	}
	patched, err := Patch(data)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, patched, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

var (
	modulesMu sync.Mutex
	modules   = map[string][]byte{}
)

// Module builds the filter of the Keycard tree at dir once per process
// and returns the patched module: tests and benchmarks build it from the
// tree they run in, never relying on an earlier make.
func Module(dir string, tags ...string) ([]byte, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	key := abs + " " + strings.Join(tags, ",")
	if m, ok := modules[key]; ok {
		return m, nil
	}
	tmp, err := os.MkdirTemp("", "keycard-wasm")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "keycard.wasm")
	if err := Build(abs, "./filter/wasm", out, tags...); err != nil {
		return nil, err
	}
	m, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	modules[key] = m
	return m, nil
}

// goTool finds the go command: on PATH, else where Go is usually
// installed.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// Patch retargets the path_filestat_get import (see the package comment).
// A module without that import is returned unchanged.
func Patch(wasm []byte) ([]byte, error) {
	return Retarget(wasm, FromModule, FromName, ToModule, ToName)
}

// Retarget renames one function import, keeping its type.
func Retarget(wasm []byte, fromModule, fromName, toModule, toName string) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("wasmbuild: not a wasm module")
	}
	p := 8
	for p < len(wasm) {
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || p+1+n+int(size) > len(wasm) {
			return nil, errors.New("wasmbuild: malformed section header")
		}
		start := p + 1 + n
		end := start + int(size)
		if id == 2 { // import section
			section, changed, err := retarget(wasm[start:end], fromModule, fromName, toModule, toName)
			if err != nil {
				return nil, err
			}
			if !changed {
				return wasm, nil
			}
			var out bytes.Buffer
			out.Write(wasm[:p])
			out.WriteByte(2)
			out.Write(binary.AppendUvarint(nil, uint64(len(section))))
			out.Write(section)
			out.Write(wasm[end:])
			return out.Bytes(), nil
		}
		p = end
	}
	return wasm, nil
}

// retarget rewrites the names of the one import in an import section.
func retarget(sec []byte, fromModule, fromName, toModule, toName string) ([]byte, bool, error) {
	bad := errors.New("wasmbuild: malformed import section")
	count, n := binary.Uvarint(sec)
	if n <= 0 {
		return nil, false, bad
	}
	out := binary.AppendUvarint(nil, count)
	p := n
	changed := false
	readName := func() (string, bool) {
		l, n := binary.Uvarint(sec[p:])
		if n <= 0 || p+n+int(l) > len(sec) {
			return "", false
		}
		s := string(sec[p+n : p+n+int(l)])
		p += n + int(l)
		return s, true
	}
	for range count {
		mod, ok1 := readName()
		name, ok2 := readName()
		if !ok1 || !ok2 || p >= len(sec) {
			return nil, false, bad
		}
		descStart := p
		kind := sec[p]
		p++
		switch kind {
		case 0x00, 0x02, 0x03: // func typeidx, memory limits, global type: skip
			if kind == 0x00 {
				_, n := binary.Uvarint(sec[p:])
				if n <= 0 {
					return nil, false, bad
				}
				p += n
			} else if kind == 0x02 {
				flags := sec[p]
				p++
				for range 1 + int(flags&1) {
					_, n := binary.Uvarint(sec[p:])
					if n <= 0 {
						return nil, false, bad
					}
					p += n
				}
			} else {
				p += 2
			}
		default:
			return nil, false, fmt.Errorf("wasmbuild: import kind %d not handled", kind)
		}
		if kind == 0x00 && !changed && mod == fromModule && name == fromName {
			mod, name, changed = toModule, toName, true
		}
		out = binary.AppendUvarint(out, uint64(len(mod)))
		out = append(out, mod...)
		out = binary.AppendUvarint(out, uint64(len(name)))
		out = append(out, name...)
		out = append(out, sec[descStart:p]...)
	}
	if p != len(sec) {
		return nil, false, bad
	}
	return out, changed, nil
}
