package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadSchemas(t *testing.T) {
	t.Parallel()
	// GIVEN a folder with two schemas (one with an unsafe name) and a non-JSON file
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"title":"B","type":"object"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "task created!.json"), []byte(`{"description":"A"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte(`not a schema`), 0o644))

	// WHEN the schemas are read
	schemas, err := readSchemas(dir)

	// THEN both JSON files load in name order, compacted, with safe names
	require.NoError(t, err)
	require.Equal(t, []eventSchema{
		{name: "b", description: "B", content: `{"title":"B","type":"object"}`},
		{name: "task_created_", description: "A", content: `{"description":"A"}`},
	}, schemas)
}

func TestReadSchemasMissingDir(t *testing.T) {
	t.Parallel()
	// GIVEN a folder that does not exist
	// WHEN the schemas are read
	schemas, err := readSchemas(filepath.Join(t.TempDir(), "absent"))
	// THEN there are none, and that is no error
	require.NoError(t, err)
	require.Empty(t, schemas)
}

func TestReadSchemasRejectsInvalidJSON(t *testing.T) {
	t.Parallel()
	// GIVEN a schema file that is not a JSON object
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`[1, 2`), 0o644))
	// WHEN the schemas are read
	_, err := readSchemas(dir)
	// THEN the error names the file
	require.ErrorContains(t, err, "bad.json")
}

func TestReadSchemasRegistersDraft4(t *testing.T) {
	t.Parallel()
	// GIVEN a draft 2020-12 schema (written with draft-4 keywords only)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "TaskSucceeded.json"),
		[]byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}`), 0o644))
	// WHEN the schemas are read
	schemas, err := readSchemas(dir)
	// THEN the registered content declares draft 4, the type the registry accepts
	require.NoError(t, err)
	require.Len(t, schemas, 1)
	require.JSONEq(t, `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object"}`, schemas[0].content)
}

func TestRepoSchemasLoad(t *testing.T) {
	t.Parallel()
	// GIVEN the repository's events/schemas
	// WHEN they are read
	schemas, err := readSchemas(filepath.Join("..", "events", "schemas"))
	// THEN each is registered as draft 4
	require.NoError(t, err)
	require.NotEmpty(t, schemas)
	for _, s := range schemas {
		require.Contains(t, s.content, draft4URI, s.name)
	}
}
