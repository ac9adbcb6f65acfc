package render

import _ "embed"

// ConfigSchema is the filter configuration's JSON Schema, Draft 4 (the
// only draft Kong accepts in a filter's meta.json).
//
//go:embed config.schema.json
var ConfigSchema []byte
