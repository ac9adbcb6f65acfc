package ociimage

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
)

// TestLayout writes the image as an OCI layout, unpacks it and finds the
// module byte for byte, in the compat variant's shape.
func TestLayout(t *testing.T) {
	module := wasmasm.NoopFilter()
	img, err := Image(module, map[string]string{"org.opencontainers.image.revision": "abc"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "image")
	if err := WriteLayout(dir, img, "v1"); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1" {
		t.Fatalf("index: %v %+v", err, im)
	}
	back, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Module(back)
	if err != nil || !bytes.Equal(got, module) {
		t.Fatalf("the module in the layout differs: %v", err)
	}
	m, err := back.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer || m.Annotations[VariantAnnotation] != "compat" || m.Annotations["org.opencontainers.image.revision"] != "abc" {
		t.Errorf("manifest: %+v", m)
	}
	again, _ := Image(module, map[string]string{"org.opencontainers.image.revision": "abc"})
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of one module differ: %s %s", d1, d2)
	}
	if err := WriteLayout(dir, img, ""); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("a second layout into the same directory: %v", err)
	}
	if _, err := Image([]byte("not wasm"), nil); err == nil {
		t.Error("a file that is not a module was packaged")
	}
}

// TestPushPull pushes the image to a registry on loopback and pulls it
// back.
func TestPushPull(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	module := wasmasm.NoopFilter()
	img, err := Image(module, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/keycard/filter:v1"
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials of the machine's
	pushed, err := Push(ref, img, true)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(pushed, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Module(pulled)
	if err != nil || !bytes.Equal(got, module) {
		t.Fatalf("the pulled module differs: %v", err)
	}
}

// TestSidecarImage: the sidecar image holds the binary alone and runs
// `keycard sidecar` as a non-root user.
func TestSidecarImage(t *testing.T) {
	bin := append([]byte("\x7fELF"), bytes.Repeat([]byte{1}, 100)...)
	img, err := SidecarImage(bin, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || cf.Config.User != "65532:65532" || strings.Join(cf.Config.Entrypoint, " ") != "/keycard" || strings.Join(cf.Config.Cmd, " ") != "sidecar" {
		t.Errorf("config %+v", cf.Config)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers", len(layers))
	}
	rc, _ := layers[0].Uncompressed()
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil || h.Name != "keycard" || h.Mode != 0o755 {
		t.Fatalf("layer entry %+v %v", h, err)
	}
	got, _ := io.ReadAll(tr)
	if !bytes.Equal(got, bin) {
		t.Error("the binary in the image differs")
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Error("the image holds more than the binary")
	}
	if _, err := SidecarImage([]byte("MZ not linux"), "amd64"); err == nil {
		t.Error("a non-Linux binary was packaged")
	}
	dir := filepath.Join(t.TempDir(), "sidecar")
	if err := WriteLayout(dir, img, "v1"); err != nil {
		t.Fatal(err)
	}
}
