package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keycard-gw/keycard/internal/ociimage"
)

// cmdImage builds the filter's OCI image (Istio's and Envoy Gateway's
// Wasm image format) as a layout, or pushes it to a registry.
func cmdImage(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sidecar" {
		return cmdSidecarImage(args[1:], stdout, stderr)
	}
	const usage = "usage: keycard image build [-o DIR] [--wasm FILE], keycard image push REF [--wasm FILE] [--insecure], or keycard image sidecar --binary FILE [-o DIR]\n(keycard image build --help, push --help and sidecar --help say more)"
	if len(args) > 0 && isHelp(args[0]) {
		return writeOrFail(stdout, stderr, usage+"\n")
	}
	if len(args) == 0 || (args[0] != "build" && args[0] != "push") {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("image "+verb, flag.ContinueOnError)
	out := fs.String("o", "build/keycard-image", "build: the OCI image layout's directory")
	tag := fs.String("tag", "", "build: the tag to record in the layout's index")
	wasmFile := fs.String("wasm", "", "a module to package instead of this keycard's own")
	insecure := fs.Bool("insecure", false, "push: the registry speaks plain HTTP (a local one)")
	pos, code, ok := parseUsage(fs, args[1:], stdout, stderr, func(pos []string) bool { return verb == "push" && len(pos) == 1 || verb == "build" && len(pos) == 0 },
		"usage: keycard image build [-o DIR] [--wasm FILE], or keycard image push REF [--wasm FILE] [--insecure]")
	if !ok {
		return code
	}
	module, err := loadModule(*wasmFile)
	if err != nil {
		return fail(stderr, err)
	}
	annotations := map[string]string{}
	if v := strings.TrimSpace(version); v != "" && v != "dev" {
		annotations["org.opencontainers.image.version"] = v
	}
	img, err := ociimage.Image(module, annotations)
	if err != nil {
		return fail(stderr, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fail(stderr, err)
	}
	if verb == "build" {
		if err := ociimage.WriteLayout(*out, img, *tag); err != nil {
			return fail(stderr, err)
		}
		return writeOrFail(stdout, stderr, fmt.Sprintf("wrote the OCI image layout %s (%s)\n", *out, digest))
	}
	ref, err := ociimage.Push(pos[0], img, *insecure)
	if err != nil {
		return fail(stderr, err)
	}
	return writeOrFail(stdout, stderr, ref+"\n")
}

func writeOrFail(stdout, stderr io.Writer, s string) int {
	if err := writeStdout(stdout, []byte(s)); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// cmdSidecarImage writes the sidecar's container image as an OCI layout,
// without a Docker daemon: a static Linux keycard binary and nothing
// else, run as a non-root user.
func cmdSidecarImage(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image sidecar", flag.ContinueOnError)
	out := fs.String("o", "build/sidecar-image", "the OCI image layout's directory")
	binary := fs.String("binary", "", "a static linux keycard binary (make sidecar-image builds one)")
	arch := fs.String("arch", "amd64", "the binary's architecture")
	tag := fs.String("tag", "", "the tag to record in the layout's index")
	if _, code, ok := parseUsage(fs, args, stdout, stderr, func(pos []string) bool { return len(pos) == 0 && *binary != "" },
		"usage: keycard image sidecar --binary FILE [--arch amd64|arm64] [-o DIR]"); !ok {
		return code
	}
	data, err := os.ReadFile(*binary)
	if err != nil {
		return fail(stderr, err)
	}
	img, err := ociimage.SidecarImage(data, *arch)
	if err != nil {
		return fail(stderr, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fail(stderr, err)
	}
	if err := ociimage.WriteLayout(*out, img, *tag); err != nil {
		return fail(stderr, err)
	}
	return writeOrFail(stdout, stderr, fmt.Sprintf("wrote the sidecar image layout %s (%s)\n", *out, digest))
}
