package events

import "embed"

// Schemas holds schemas/<DetailType>.json, the JSON Schema of each event
// type (see package eventschema for validating against them).
//
//go:embed schemas/*.json
var Schemas embed.FS
