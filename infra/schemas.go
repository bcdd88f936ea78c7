package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventschemas"
	"github.com/aws/jsii-runtime-go"
)

// schemaType is the only JSON Schema type the EventSchemas service (and so
// CloudFormation's AWS::EventSchemas::Schema) accepts beside OpenApi3.
const schemaType = "JSONSchemaDraft4"

// draft4URI is the $schema of a draft-4 JSON Schema.
const draft4URI = "http://json-schema.org/draft-04/schema#"

var schemaNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9@._-]+`)

// eventSchema is one JSON Schema file read from SchemaDir.
type eventSchema struct {
	name, description, content string
}

// readSchemas loads every *.json in dir, sorted by name. A missing dir means
// no schemas; a file that is not a JSON object is an error.
func readSchemas(dir string) ([]eventSchema, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list schemas in %s: %w", dir, err)
	}
	if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
		return nil, nil
	}
	sort.Strings(files)
	var out []eventSchema
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("schema %s is not a JSON object: %w", f, err)
		}
		// The files are draft 2020-12 written with draft-4 keywords only
		// (events/lifecycle_test.go checks that); the registry takes draft 4,
		// so the registered copy says draft 4.
		if _, ok := doc["$schema"]; ok {
			doc["$schema"] = draft4URI
		}
		// Compact so the template carries no formatting noise.
		compact, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("re-encode schema %s: %w", f, err)
		}
		desc, _ := doc["description"].(string)
		if desc == "" {
			desc, _ = doc["title"].(string)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		out = append(out, eventSchema{
			name:        schemaNameUnsafe.ReplaceAllString(base, "_"),
			description: truncate(desc, 256),
			content:     string(compact),
		})
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// addSchemas registers the event JSON Schemas in a registry named after the
// bus, so consumers can discover and generate code bindings for them.
func (b *builder) addSchemas() {
	registry := awseventschemas.NewCfnRegistry(b.stack, jsii.String("SchemaRegistry"), &awseventschemas.CfnRegistryProps{
		RegistryName: jsii.String(b.props.BusName + "-events"),
		Description:  jsii.String("Hourglass ingest and lifecycle event schemas"),
	})
	b.schemaRegName = registry.AttrRegistryName()
	schemas, err := readSchemas(b.props.SchemaDir)
	if err != nil {
		awscdk.Annotations_Of(registry).AddError(jsii.String(err.Error()))
		return
	}
	if len(schemas) == 0 {
		awscdk.Annotations_Of(registry).AddWarningV2(jsii.String("hourglass:no-schemas"),
			jsii.String("no *.json event schemas found in "+b.props.SchemaDir+"; the registry is empty"), nil)
	}
	for _, s := range schemas {
		props := &awseventschemas.CfnSchemaProps{
			RegistryName: registry.AttrRegistryName(),
			SchemaName:   jsii.String(b.props.BusName + "@" + s.name),
			Type:         jsii.String(schemaType),
			Content:      jsii.String(s.content),
		}
		if s.description != "" {
			props.Description = jsii.String(s.description)
		}
		awseventschemas.NewCfnSchema(b.stack, jsii.String("Schema"+exportName(s.name)), props)
	}
}
