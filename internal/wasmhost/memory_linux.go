package wasmhost

import "syscall"

// mapNoReserve: no swap is set aside for the reservation; only the pages
// the module touches count.
const mapNoReserve = syscall.MAP_NORESERVE
