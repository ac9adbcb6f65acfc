// Package headermap owns the proxy-wasm serialized header map: a
// little-endian pair count, then each pair's key and value sizes, then
// the keys and values, each followed by a NUL. The filter's ABI layer
// writes it and reads it in place (Index); the wasmhost reads and writes
// it; both use this package so the two sides of the ABI cannot drift
// apart.
package headermap

import (
	"encoding/binary"
	"slices"
)

// Encode serializes pairs.
func Encode(pairs [][2]string) []byte { return AppendEncode(nil, pairs) }

// AppendEncode serializes pairs at the end of dst, so that a caller
// that encodes often can reuse one buffer.
func AppendEncode(dst []byte, pairs [][2]string) []byte {
	size := 4
	for _, kv := range pairs {
		size += 8 + len(kv[0]) + len(kv[1]) + 2
	}
	b := slices.Grow(dst, size)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pairs)))
	for _, kv := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[1])))
	}
	for _, kv := range pairs {
		b = append(append(append(append(b, kv[0]...), 0), kv[1]...), 0)
	}
	return b
}

// Decode parses a serialized map, refusing anything malformed: sizes past
// the end, missing NULs, bytes after the last pair. An empty input is an
// empty map.
func Decode(b []byte) ([][2]string, bool) {
	if len(b) == 0 {
		return nil, true
	}
	if len(b) < 4 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > (len(b)-4)/8 {
		return nil, false
	}
	p := 4 + 8*n
	out := make([][2]string, 0, n)
	for i := range n {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if kl < 0 || vl < 0 || kl > len(b) || vl > len(b) || p+kl+1+vl+1 > len(b) || b[p+kl] != 0 || b[p+kl+1+vl] != 0 {
			return nil, false
		}
		out = append(out, [2]string{string(b[p : p+kl]), string(b[p+kl+1 : p+kl+1+vl])})
		p += kl + vl + 2
	}
	return out, p == len(b)
}
