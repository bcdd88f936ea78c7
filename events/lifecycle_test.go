package events_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/events/eventschema"
)

// checkSample round-trips testdata/<detailType>.json through Event[D] and
// validates it against schemas/<detailType>.json.
func checkSample[D any](t *testing.T, detailType string) events.Event[D] {
	t.Helper()
	ev := roundTrip[events.Event[D]](t, detailType+".json")
	assert.Equal(t, detailType, ev.DetailType)
	raw, err := os.ReadFile(filepath.Join("testdata", detailType+".json"))
	require.NoError(t, err)
	require.NoError(t, eventschema.Validate(raw))
	return ev
}

func TestTaskSucceededSample(t *testing.T) {
	t.Parallel()
	ev := checkSample[events.TaskSucceeded](t, events.DetailTaskSucceeded)
	assert.Equal(t, events.Source, ev.Source)
	assert.Equal(t, "SUCCEEDED", ev.Detail.State)
	require.NotNil(t, ev.Detail.LatenessMS)
}

func TestTaskFailedSample(t *testing.T) {
	t.Parallel()
	ev := checkSample[events.TaskFailed](t, events.DetailTaskFailed)
	assert.NotEmpty(t, ev.Detail.Outcome.Error)
}

func TestTaskDeadLetteredSample(t *testing.T) {
	t.Parallel()
	ev := checkSample[events.TaskDeadLettered](t, events.DetailTaskDeadLettered)
	assert.Equal(t, "FAILED", ev.Detail.State)
}

func TestTaskCancelledSample(t *testing.T) {
	t.Parallel()
	ev := checkSample[events.TaskCancelled](t, events.DetailTaskCancelled)
	assert.Nil(t, ev.Detail.LatenessMS, "a task cancelled before it ran has no lateness")
}

func TestCreateTaskSample(t *testing.T) {
	t.Parallel()
	ev := checkSample[events.CreateTask](t, events.DetailCreateTask)
	assert.Equal(t, "acme", ev.Detail.Tenant)
	assert.JSONEq(t, `{"order":42}`, string(ev.Detail.Payload))
}

func TestScheduleFiredSample(t *testing.T) {
	t.Parallel()
	ev := checkSample[events.ScheduleFired](t, events.DetailScheduleFired)
	assert.Equal(t, events.Source, ev.Source)
	assert.Equal(t, "acme", ev.Detail.Tenant)
	assert.Equal(t, "s0ppn4k8ug006b4c8r5mh", ev.Detail.ScheduleID)
	assert.False(t, ev.Detail.FiredAt.Before(ev.Detail.DueAt), "an occurrence fires at or after its due time")
	assert.False(t, ev.Detail.DueAt.Before(ev.Detail.OccurrenceAt), "due_at adds the flexible window's offset")
}

func TestCreateScheduleSample(t *testing.T) {
	t.Parallel()
	ev := checkSample[events.CreateSchedule](t, events.DetailCreateSchedule)
	assert.Equal(t, "acme", ev.Detail.Tenant)
	assert.Equal(t, "cron(0 9 ? * MON-FRI *)", ev.Detail.Expression)
	assert.Equal(t, 15, ev.Detail.FlexibleWindowMinutes)
}

// TestEveryDetailTypeHasSchemaAndSample ties the constants, the schemas and
// the samples together: one of each per detail type, nothing extra.
func TestEveryDetailTypeHasSchemaAndSample(t *testing.T) {
	t.Parallel()
	want := []string{events.DetailCreateSchedule, events.DetailCreateTask, events.DetailScheduleFired, events.DetailTaskCancelled, events.DetailTaskDeadLettered, events.DetailTaskFailed, events.DetailTaskSucceeded}
	got, err := eventschema.DetailTypes()
	require.NoError(t, err)
	sort.Strings(got)
	assert.Equal(t, want, got)
	for _, dt := range want {
		assert.FileExists(t, filepath.Join("testdata", dt+".json"))
	}
}

// TestSchemasRejectDrift proves the schemas bite: a sample with a missing
// field, an unknown field, a wrong type or the wrong source fails.
func TestSchemasRejectDrift(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "TaskSucceeded.json"))
	require.NoError(t, err)
	for name, mutate := range map[string]func(ev, detail map[string]any){
		"missing task_id":  func(_, d map[string]any) { delete(d, "task_id") },
		"unknown field":    func(_, d map[string]any) { d["extra"] = 1 },
		"attempts string":  func(_, d map[string]any) { d["attempts"] = "1" },
		"wrong state":      func(_, d map[string]any) { d["state"] = "FAILED" },
		"bad due_at":       func(_, d map[string]any) { d["due_at"] = "tomorrow" },
		"wrong source":     func(e, _ map[string]any) { e["source"] = "acme" },
		"bad task ID":      func(_, d map[string]any) { d["task_id"] = "NOT-AN-ID" },
		"outcome is array": func(_, d map[string]any) { d["outcome"] = []any{} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ev map[string]any
			require.NoError(t, json.Unmarshal(raw, &ev))
			mutate(ev, ev["detail"].(map[string]any))
			b, err := json.Marshal(ev)
			require.NoError(t, err)
			assert.Error(t, eventschema.Validate(b))
		})
	}
	fired, err := os.ReadFile(filepath.Join("testdata", "ScheduleFired.json"))
	require.NoError(t, err)
	for name, mutate := range map[string]func(d map[string]any){
		"missing schedule_id":  func(d map[string]any) { delete(d, "schedule_id") },
		"bad schedule_id":      func(d map[string]any) { d["schedule_id"] = "0ppn4k8ug006b4c8r5mhbvdbsg" },
		"cancelled state":      func(d map[string]any) { d["state"] = "CANCELLED" },
		"no attempts":          func(d map[string]any) { d["attempts"] = 0 },
		"bad occurrence_at":    func(d map[string]any) { d["occurrence_at"] = "9am" },
		"outcome is not a key": func(d map[string]any) { d["outcome"] = map[string]any{} },
	} {
		t.Run("ScheduleFired "+name, func(t *testing.T) {
			t.Parallel()
			var ev map[string]any
			require.NoError(t, json.Unmarshal(fired, &ev))
			mutate(ev["detail"].(map[string]any))
			b, err := json.Marshal(ev)
			require.NoError(t, err)
			assert.Error(t, eventschema.Validate(b))
		})
	}
}

// draft4Keywords are the schema keywords our schemas may use: those that
// mean the same in draft 4 and draft 2020-12. The CDK stack registers the
// schemas as JSONSchemaDraft4 (what EventBridge's registry accepts), so a
// 2020-12-only keyword ($defs, const, prefixItems…) would silently mean
// nothing there.
var draft4Keywords = map[string]bool{
	"$schema": true, "title": true, "description": true, "type": true, "required": true, "properties": true,
	"additionalProperties": true, "enum": true, "format": true, "minimum": true, "maximum": true,
	"minLength": true, "maxLength": true, "pattern": true, "items": true,
}

func TestSchemasUseOnlyDraft4Keywords(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(events.Schemas, "schemas/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		raw, err := fs.ReadFile(events.Schemas, f)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc))
		assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", doc["$schema"], f)
		for _, bad := range nonDraft4(doc, "") {
			t.Errorf("%s: keyword %s is not in draft 4", f, bad)
		}
	}
}

// nonDraft4 walks a schema and returns the paths of unknown keywords.
func nonDraft4(schema map[string]any, at string) []string {
	var bad []string
	for k, v := range schema {
		if !draft4Keywords[k] {
			bad = append(bad, at+"/"+k)
			continue
		}
		switch k {
		case "properties":
			for name, sub := range v.(map[string]any) {
				bad = append(bad, nonDraft4(sub.(map[string]any), at+"/properties/"+name)...)
			}
		case "items", "additionalProperties":
			if sub, ok := v.(map[string]any); ok {
				bad = append(bad, nonDraft4(sub, at+"/"+k)...)
			}
		}
	}
	return bad
}

func TestNonDraft4WalkFindsKeywords(t *testing.T) {
	t.Parallel()
	got := nonDraft4(map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"const": 1}}, "$defs": map[string]any{}}, "")
	sort.Strings(got)
	assert.Equal(t, []string{"/$defs", "/properties/a/const"}, got)
	assert.True(t, strings.HasPrefix(got[0], "/"))
}

// TestSchemasMatchGoTypes keeps the hand-written schemas and the Go types
// in step: the detail properties of each schema are exactly the JSON fields
// of its Go type, and the envelope's are those of Event.
func TestSchemasMatchGoTypes(t *testing.T) {
	t.Parallel()
	for dt, v := range map[string]any{
		events.DetailTaskSucceeded:    events.TaskSucceeded{},
		events.DetailTaskFailed:       events.TaskFailed{},
		events.DetailTaskDeadLettered: events.TaskDeadLettered{},
		events.DetailTaskCancelled:    events.TaskCancelled{},
		events.DetailCreateTask:       events.CreateTask{},
		events.DetailScheduleFired:    events.ScheduleFired{},
		events.DetailCreateSchedule:   events.CreateSchedule{},
	} {
		raw, err := fs.ReadFile(events.Schemas, "schemas/"+dt+".json")
		require.NoError(t, err)
		var schema struct {
			Properties map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(raw, &schema))
		assert.ElementsMatch(t, jsonFields(reflect.TypeOf(events.Event[struct{}]{})), keys(schema.Properties), dt+" envelope")
		assert.ElementsMatch(t, jsonFields(reflect.TypeOf(v)), keys(schema.Properties["detail"].Properties), dt+" detail")
	}
}

// jsonFields lists the JSON names of a struct's fields, flattening
// embedded structs as encoding/json does.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if name != "-" {
			out = append(out, name)
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDraft4CopiesValidateTheSamples compiles each schema as the CDK stack
// registers it (declared draft 4) and validates its sample with it, so the
// registry's copy means what the draft 2020-12 file means.
func TestDraft4CopiesValidateTheSamples(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(events.Schemas, "schemas/*.json")
	require.NoError(t, err)
	for _, f := range files {
		raw, err := fs.ReadFile(events.Schemas, f)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc))
		doc["$schema"] = "http://json-schema.org/draft-04/schema#"
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		require.NoError(t, c.AddResource("mem://"+f, doc))
		s, err := c.Compile("mem://" + f)
		require.NoError(t, err, f)
		sample, err := os.ReadFile(filepath.Join("testdata", strings.TrimPrefix(f, "schemas/")))
		require.NoError(t, err)
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(sample)))
		require.NoError(t, err)
		assert.NoError(t, s.Validate(inst), f)
		var bad map[string]any
		require.NoError(t, json.Unmarshal(sample, &bad))
		delete(bad["detail"].(map[string]any), "tenant")
		assert.Error(t, s.Validate(bad), "%s: a detail without tenant fails under draft 4 too", f)
	}
}
