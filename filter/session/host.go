package session

import (
	"time"

	"github.com/keycard-gw/keycard/filter"
)

// Headers is a header map as a host hands it over: the filter's own
// type, so that handing a request's headers to the engine converts
// nothing at run time.
type Headers = filter.Headers

// Log levels, as proxy-wasm numbers them.
const (
	LogInfo  = 2
	LogWarn  = 3
	LogError = 4
)

// Host is what the session asks of the proxy-wasm host. Calls that act
// on a request act on the host's current one: the request whose callback
// runs, or the one SetEffective chose.
type Host interface {
	// Clock is the host's wall clock. The session calls it as it is,
	// not through the interface: a method value of an interface is a
	// wrapper, and each call costs inside wasm.
	Clock() func() time.Time
	Log(level int, msg string)
	PluginConfiguration(size int) ([]byte, error)
	SetTickPeriod(millis uint32) error
	DefineCounter(name string) (uint32, error)
	IncrementCounter(id uint32) error

	RequestHeaders() (Headers, error)
	// Property reads a host property such as request.path (Kong), its
	// path's parts joined by NUL (filter.Property).
	Property(path string) (string, error)
	RemoveRequestHeader(name string) error
	ReplaceRequestHeader(name, value string) error
	ResponseHeaders() (Headers, error)
	ReplaceResponseHeader(name, value string) error
	SendResponse(status int, headers [][2]string, body []byte, details string) error
	Resume() error
	SetEffective(stream uint32) error

	Dispatch(upstream string, headers [][2]string, timeoutMillis uint32) (uint32, error)
	CallResponseHeaders() (Headers, error)
	CallResponseBody(size int) ([]byte, error)
}

// Action is what a request callback tells the host.
type Action int

// Actions.
const (
	Continue Action = 0
	Pause    Action = 1
)
