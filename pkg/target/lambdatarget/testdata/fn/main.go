// Command fn is a test-only Lambda function for package lambdatarget: it
// answers with the event it got and the Hourglass client context it saw
// (the event alone when it is an envelope), or
// fails with the given message when the event asks it to.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func handle(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
	var req struct {
		Fail string `json:"fail"`
	}
	if json.Unmarshal(in, &req) == nil && req.Fail != "" {
		return nil, errors.New(req.Fail)
	}
	var env struct {
		Hourglass json.RawMessage `json:"hourglass"`
	}
	if json.Unmarshal(in, &env) == nil && env.Hourglass != nil {
		// An envelope: answer with it alone, so the answer stays short.
		return json.Marshal(map[string]any{"event": in})
	}
	custom := map[string]string{}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.ClientContext.Custom != nil {
		custom = lc.ClientContext.Custom
	}
	out, err := json.Marshal(map[string]any{"event": in, "custom": custom})
	if err != nil {
		return nil, fmt.Errorf("fn: encode answer: %w", err)
	}
	return out, nil
}

func main() { lambda.Start(handle) }
