// Package eventschema validates Hourglass events against their JSON Schemas
// (events.Schemas), for tests and tools. It is kept apart from package
// events so that the functions, which import events, do not carry a
// schema validator.
package eventschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hourglass-sched/hourglass/events"
)

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

func load() {
	compiled = map[string]*jsonschema.Schema{}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, err := fs.Glob(events.Schemas, "schemas/*.json")
	if err != nil {
		loadErr = fmt.Errorf("list schemas: %w", err)
		return
	}
	for _, f := range files {
		raw, err := fs.ReadFile(events.Schemas, f)
		if err != nil {
			loadErr = fmt.Errorf("read %s: %w", f, err)
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			loadErr = fmt.Errorf("parse %s: %w", f, err)
			return
		}
		url := "https://hourglass.dev/events/" + path.Base(f)
		if err := c.AddResource(url, doc); err != nil {
			loadErr = fmt.Errorf("add %s: %w", f, err)
			return
		}
		s, err := c.Compile(url)
		if err != nil {
			loadErr = fmt.Errorf("compile %s: %w", f, err)
			return
		}
		compiled[strings.TrimSuffix(path.Base(f), ".json")] = s
	}
}

// DetailTypes lists the detail types that have a schema.
func DetailTypes() ([]string, error) {
	once.Do(load)
	if loadErr != nil {
		return nil, loadErr
	}
	out := make([]string, 0, len(compiled))
	for k := range compiled {
		out = append(out, k)
	}
	return out, nil
}

// Validate checks a whole event (as a rule delivers it) against the schema
// of its detail-type.
func Validate(event []byte) error {
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	var head struct {
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(event, &head); err != nil {
		return fmt.Errorf("event is not a JSON object with a detail-type: %w", err)
	}
	s, ok := compiled[head.DetailType]
	if !ok {
		return fmt.Errorf("no schema for detail-type %q", head.DetailType)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(event))
	if err != nil {
		return fmt.Errorf("parse %s event: %w", head.DetailType, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%s event does not match its schema: %w", head.DetailType, err)
	}
	return nil
}
