// Package table owns Keycard's decision table: the compact, deterministic,
// versioned byte format that the compiler writes and the filter reads.
//
// A Table holds, per service, a path trie flattened into arrays of small
// integers, a shared string table, the rules the trie leads to (level,
// method mask, role set, flags) and the host/prefix mounts that select a
// service. Encode is deterministic; Decode checks every index and length
// and returns an error wrapping ErrBadMagic, ErrVersion or ErrCorrupt on
// any malformed input, never a panic. Lookup is O(path segments) and does
// not allocate.
//
// The package imports only the standard library so that it builds for
// GOOS=wasip1 GOARCH=wasm inside the filter. The byte layout is documented
// in docs/table-format.md.
package table
