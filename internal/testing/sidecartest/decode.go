package sidecartest

import "encoding/json"

func decode(data []byte, v any) error { return json.Unmarshal(data, v) }
