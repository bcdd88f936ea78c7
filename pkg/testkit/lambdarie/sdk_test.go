package lambdarie_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/lambdarie"
)

// TestSDKClientInvokesThroughEndpoint checks what a Lambda target test
// relies on: the SDK's Invoke reaches the emulated function, and the
// emulator does not flag function errors the way Lambda does.
func TestSDKClientInvokesThroughEndpoint(t *testing.T) {
	t.Parallel()
	fn := setup(t, nil)
	client := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fn.Endpoint()),
		Credentials:  aws.AnonymousCredentials{},
	})
	ctx := invokeCtx(t)

	out, err := client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(lambdarie.FunctionName),
		Payload:      []byte(`{"task":"t1"}`),
	})
	require.NoError(t, err)
	assert.Equal(t, int32(200), out.StatusCode)
	assert.JSONEq(t, `{"task":"t1"}`, string(out.Payload))

	out, err = client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(lambdarie.FunctionName),
		Payload:      []byte(`{"fail":"boom"}`),
	})
	require.NoError(t, err)
	assert.JSONEq(t, `{"errorMessage":"boom","errorType":"errorString"}`, string(out.Payload))
	// Lambda would set FunctionError ("Unhandled"); the emulator sends no
	// X-Amz-Function-Error header, so code under test sees only the payload.
	assert.Nil(t, out.FunctionError)
}
