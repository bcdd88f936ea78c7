package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"
)

// The jsii kernel is one Node.js process per test binary, so synthesizing in
// parallel gains nothing; tests share one synthesized stack per variant.

// sampleSchema is a minimal event schema placed in the test schema folder.
const sampleSchema = `{
  "$schema": "http://json-schema.org/draft-04/schema#",
  "title": "TaskSucceeded",
  "description": "A task finished successfully.",
  "type": "object",
  "properties": {"taskId": {"type": "string"}},
  "required": ["taskId"]
}`

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// fixtures makes, once per test binary, placeholder Lambda assets and a
// schema folder with one sample schema.
func fixtures(t *testing.T) (assetDir, schemaDir string) {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "hourglass-infra-test-")
		if fixtureErr != nil {
			return
		}
		if _, fixtureErr = PlaceholderLambdaAssets(fixtureDir); fixtureErr != nil {
			return
		}
		schemas := filepath.Join(fixtureDir, "schemas")
		if fixtureErr = os.MkdirAll(schemas, 0o755); fixtureErr != nil {
			return
		}
		fixtureErr = os.WriteFile(filepath.Join(schemas, "task_succeeded.json"), []byte(sampleSchema), 0o644)
	})
	require.NoError(t, fixtureErr)
	matches, err := filepath.Glob(filepath.Join(fixtureDir, "hourglass-lambda-*"))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	return matches[0], filepath.Join(fixtureDir, "schemas")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		_ = os.RemoveAll(fixtureDir)
	}
	jsii.Close()
	os.Exit(code)
}

// synthed is one synthesized stack and its template, as an assertions
// Template and as plain JSON.
type synthed struct {
	stack    awscdk.Stack
	template assertions.Template
	doc      map[string]any
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthed{}
)

// synth builds (once per variant name) a stack from test fixtures and the
// given props changes, with cdk-nag's AwsSolutions pack applied.
func synth(t *testing.T, variant string, mutate func(p *HourglassStackProps)) *synthed {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[variant]; ok {
		return s
	}
	assetDir, schemaDir := fixtures(t)
	props := &HourglassStackProps{
		LambdaAssetDir: assetDir,
		SchemaDir:      schemaDir,
		RepoRoot:       "..",
	}
	if mutate != nil {
		mutate(props)
	}
	app := testApp(t, nil)
	stack := NewHourglassStack(app, "Hourglass", props)
	ApplyNag(stack)
	template := assertions.Template_FromStack(stack, nil)
	raw, err := json.Marshal(template.ToJSON())
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	s := &synthed{stack: stack, template: template, doc: doc}
	synthCache[variant] = s
	return s
}

// testApp is an App that synthesizes into a folder removed after the test,
// not into a fresh temporary folder that nobody cleans.
func testApp(t *testing.T, context map[string]any) awscdk.App {
	t.Helper()
	dir, err := os.MkdirTemp(fixtureDirFor(t), "cdk.out-")
	require.NoError(t, err)
	props := &awscdk.AppProps{Outdir: jsii.String(dir)}
	if context != nil {
		props.Context = &context
	}
	return awscdk.NewApp(props)
}

// fixtureDirFor returns the per-binary fixture folder, made on first use.
func fixtureDirFor(t *testing.T) string {
	t.Helper()
	fixtures(t)
	return fixtureDir
}

// defaultStack is the stack with every setting at its default.
func defaultStack(t *testing.T) *synthed { return synth(t, "default", nil) }

// noPanic runs an assertions call and turns its panic (how jsii reports a
// failed assertion) into a test failure with the message.
func noPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("assertion failed: %v", r)
		}
	}()
	f()
}

// resources returns the template's resources of one type, by logical ID.
func (s *synthed) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.doc["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// resource returns the one resource of a type whose logical ID starts with
// prefix, and its properties.
func (s *synthed) resource(t *testing.T, typ, prefix string) (string, map[string]any) {
	t.Helper()
	var ids []string
	for id := range s.resources(typ) {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	require.Len(t, ids, 1, "want one %s with logical ID prefix %q, have %v", typ, prefix, ids)
	props, _ := s.resources(typ)[ids[0]]["Properties"].(map[string]any)
	return ids[0], props
}

// getAttArn returns the logical ID in {"Fn::GetAtt": [id, "Arn"]}, or "".
func getAttArn(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	ga, ok := m["Fn::GetAtt"].([]any)
	if !ok || len(ga) != 2 || ga[1] != "Arn" {
		return ""
	}
	return fmt.Sprint(ga[0])
}

// ref returns the logical ID in {"Ref": id}, or "".
func ref(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	id, _ := m["Ref"].(string)
	return id
}
