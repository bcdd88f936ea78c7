package lambdarie_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/lambdarie"
)

// setup starts the echo test function under the emulator.
func setup(t *testing.T, env map[string]string) *lambdarie.Function {
	t.Helper()
	bootstrap := lambdarie.BuildBootstrap(t, "./testdata/echo")
	return lambdarie.Start(t, bootstrap, env)
}

func invokeCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestInvokeEchoAndFunctionError(t *testing.T) {
	t.Parallel()
	fn := setup(t, nil)
	ctx := invokeCtx(t)

	in := []byte(`{"task":{"id":"0ppn4k8ug006b4c8r5mhbvdbsg"},"n":3}`)
	out, err := fn.Invoke(ctx, in)
	require.NoError(t, err)
	assert.JSONEq(t, string(in), string(out))

	out, err = fn.Invoke(ctx, []byte(`{"fail":"target answered 503"}`))
	require.Error(t, err)
	assert.Nil(t, out)
	var fe *lambdarie.FunctionError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "target answered 503", fe.Message)
	assert.Equal(t, "errorString", fe.Type)

	// The function keeps serving after an error, as a warm Lambda does.
	out, err = fn.Invoke(ctx, []byte(`"still here"`))
	require.NoError(t, err)
	assert.JSONEq(t, `"still here"`, string(out))
}

func TestStartPassesEnvironment(t *testing.T) {
	t.Parallel()
	fn := setup(t, map[string]string{
		"HOURGLASS_TABLE":          "tasks-test",
		"AWS_LAMBDA_FUNCTION_NAME": "hourglass-echo",
	})
	ctx := invokeCtx(t)

	for name, want := range map[string]string{
		"HOURGLASS_TABLE":          "tasks-test",     // from env
		"AWS_LAMBDA_FUNCTION_NAME": "hourglass-echo", // a default, overridden
		"AWS_REGION":               "us-east-1",      // a default
		"HOME":                     "",               // not inherited from the test
	} {
		out, err := fn.Invoke(ctx, []byte(`{"env":"`+name+`"}`))
		require.NoError(t, err, name)
		var got struct{ Value string }
		require.NoError(t, json.Unmarshal(out, &got), name)
		assert.Equal(t, want, got.Value, name)
	}
	assert.Contains(t, fn.Log(), "START RequestId:")
}

func TestFunctionsRunSideBySide(t *testing.T) {
	t.Parallel()
	a, b := setup(t, nil), setup(t, nil)
	require.NotEqual(t, a.Endpoint(), b.Endpoint())
	ctx := invokeCtx(t)
	for _, fn := range []*lambdarie.Function{a, b} {
		out, err := fn.Invoke(ctx, []byte(`{"who":"`+fn.Endpoint()+`"}`))
		require.NoError(t, err)
		assert.JSONEq(t, `{"who":"`+fn.Endpoint()+`"}`, string(out))
	}
}

func TestParseFunctionErrorShape(t *testing.T) {
	t.Parallel()
	// Exercised through an echo: the function returns these objects as
	// successful responses, and Invoke must tell error shapes from data.
	fn := setup(t, nil)
	ctx := invokeCtx(t)
	for _, tc := range []struct {
		name    string
		body    string
		isError bool
	}{
		{"error object", `{"errorMessage":"m","errorType":"T"}`, true},
		{"with stack trace", `{"errorMessage":"m","errorType":"T","stackTrace":[{"path":"a.go","line":1}]}`, true},
		{"extra key is data", `{"errorMessage":"m","errorType":"T","id":"x"}`, false},
		{"message only is data", `{"errorMessage":"m"}`, false},
		{"non-string type is data", `{"errorMessage":"m","errorType":7}`, false},
		{"array is data", `[{"errorMessage":"m","errorType":"T"}]`, false},
	} {
		out, err := fn.Invoke(ctx, []byte(tc.body))
		if !tc.isError {
			require.NoError(t, err, tc.name)
			assert.JSONEq(t, tc.body, string(out), tc.name)
			continue
		}
		var fe *lambdarie.FunctionError
		require.True(t, errors.As(err, &fe), "%s: %v", tc.name, err)
		assert.Equal(t, "m", fe.Message, tc.name)
		assert.Equal(t, "T", fe.Type, tc.name)
	}
}
