// Package ociimage owns the filter's OCI image: the module packaged in
// the Wasm image format Istio's WasmPlugin and Envoy Gateway pull (the
// "compat" variant of the Wasm image specification: one ordinary
// gzip'd tar layer holding the module as plugin.wasm), written as an OCI
// image layout or pushed to a registry, with go-containerregistry.
package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ModuleFile is where the compat variant keeps the module.
const ModuleFile = "plugin.wasm"

// VariantAnnotation marks the image as the compat variant.
const VariantAnnotation = "module.wasm.image/variant"

// Image packages a module. The image is reproducible: the same module
// and annotations give the same digest.
func Image(module []byte, annotations map[string]string) (v1.Image, error) {
	if len(module) < 8 || !bytes.Equal(module[:4], []byte("\x00asm")) {
		return nil, errors.New("ociimage: not a WebAssembly module")
	}
	img, err := oneFileImage(ModuleFile, 0o644, module, func(cf *v1.ConfigFile) {
		cf.Architecture, cf.OS = "wasm", "wasip1"
	})
	if err != nil {
		return nil, err
	}
	all := map[string]string{VariantAnnotation: "compat", "org.opencontainers.image.title": "keycard"}
	for k, v := range annotations {
		all[k] = v
	}
	return mutate.Annotations(img, all).(v1.Image), nil
}

// WriteLayout writes the image as an OCI image layout in dir (which must
// not exist yet or be empty), tagged with ref's tag when given.
func WriteLayout(dir string, img v1.Image, tag string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty: an OCI layout needs a directory of its own", dir)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
	}
	return p.AppendImage(img, opts...)
}

// Push pushes the image to ref with the user's registry credentials
// (the Docker config's, as docker and crane find them).
func Push(ref string, img v1.Image, insecure bool) (string, error) {
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return r.Context().Digest(d.String()).String(), nil
}

// Module reads the module back out of an image: its one layer's
// plugin.wasm.
func Module(img v1.Image) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("ociimage: %d layers, the compat variant has one", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("ociimage: no " + ModuleFile + " in the layer")
		}
		if err != nil {
			return nil, err
		}
		if h.Name == ModuleFile || h.Name == "./"+ModuleFile {
			return io.ReadAll(tr)
		}
	}
}

// SidecarImage packages a keycard binary (built for linux, static) as a
// container image that runs `keycard sidecar` as a non-root user with
// nothing else in it: no shell, no libc, the binary only.
func SidecarImage(binary []byte, arch string) (v1.Image, error) {
	if len(binary) < 4 || !bytes.Equal(binary[:4], []byte("\x7fELF")) {
		return nil, errors.New("ociimage: the sidecar image needs a Linux (ELF) keycard binary")
	}
	img, err := oneFileImage("keycard", 0o755, binary, func(cf *v1.ConfigFile) {
		cf.OS, cf.Architecture = "linux", arch
		cf.Config.Entrypoint = []string{"/keycard"}
		cf.Config.Cmd = []string{"sidecar"}
		cf.Config.User = "65532:65532"
		cf.Config.ExposedPorts = map[string]struct{}{"8181/tcp": {}}
		cf.Config.Env = []string{"KEYCARD_LISTEN=0.0.0.0:8181"}
	})
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, map[string]string{"org.opencontainers.image.title": "keycard-sidecar"}).(v1.Image), nil
}

// oneFileImage is an OCI image of one layer holding one file, owned by
// root, with no timestamps (the same bytes give the same digest), its
// configuration set by configure.
func oneFileImage(name string, mode int64, data []byte, configure func(*v1.ConfigFile)) (v1.Image, error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := tarBuf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	configure(cf)
	return mutate.ConfigFile(img, cf)
}
