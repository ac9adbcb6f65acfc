//go:build wasip1

package abi

// Action is what a stream callback tells the host.
type Action uint32

const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

// Status is a host call's result.
type Status uint32

// Host call statuses (proxy-wasm ABI 0.2.1).
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusInternalFailure      Status = 10
	StatusUnimplemented        Status = 12
)

func (s Status) Error() string {
	switch s {
	case StatusNotFound:
		return "not found"
	case StatusBadArgument:
		return "bad argument"
	case StatusSerializationFailure:
		return "serialization failure"
	case StatusParseFailure:
		return "parse failure"
	case StatusInvalidMemoryAccess:
		return "invalid memory access"
	case StatusEmpty:
		return "empty"
	case StatusCasMismatch:
		return "cas mismatch"
	case StatusInternalFailure:
		return "internal failure"
	case StatusUnimplemented:
		return "unimplemented"
	}
	return "status " + itoa(uint32(s))
}

func asError(s Status) error {
	if s == StatusOK {
		return nil
	}
	return s
}

// ErrNotFound is returned when the host has no such header, property or
// buffer.
var ErrNotFound error = StatusNotFound

// Log levels.
type LogLevel uint32

const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

// RootContext receives a plugin's lifecycle callbacks.
type RootContext interface {
	OnVMStart(vmConfigurationSize int) bool
	OnPluginStart(pluginConfigurationSize int) bool
	NewHTTPContext(contextID uint32) HTTPContext
	OnHTTPCallResponse(token uint32, numHeaders, bodySize, numTrailers int)
	OnTick()
	OnDelete()
}

// HTTPContext receives one HTTP stream's callbacks.
type HTTPContext interface {
	OnHTTPRequestHeaders(numHeaders int, endOfStream bool) Action
	// OnHTTPResponseHeaders sees the response's headers: the upstream's,
	// or (on Kong) the filter's own local response.
	OnHTTPResponseHeaders(numHeaders int, endOfStream bool) Action
	// OnHTTPDelete ends the stream: nothing of it is called again.
	OnHTTPDelete()
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
