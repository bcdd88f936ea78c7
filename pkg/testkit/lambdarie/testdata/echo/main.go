// Command echo is a test-only Lambda function for package lambdarie: it
// returns its input unchanged, or fails with the given message when the
// input asks it to, so that both invocation outcomes can be exercised under
// the Runtime Interface Emulator.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// request holds the fields of the input that change the function's
// behaviour; everything else is only echoed.
type request struct {
	// Fail, when non-empty, makes the function return an error with this
	// message instead of echoing.
	Fail string `json:"fail,omitempty"`
	// Env, when non-empty, names an environment variable whose value the
	// function returns, to check what the emulator passes through.
	Env string `json:"env,omitempty"`
}

func handle(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
	var req request
	// A payload that is not an object (a string, a number) is echoed as is.
	if err := json.Unmarshal(in, &req); err != nil {
		return in, nil
	}
	switch {
	case req.Fail != "":
		return nil, errors.New(req.Fail)
	case req.Env != "":
		out, err := json.Marshal(map[string]string{"value": os.Getenv(req.Env)})
		if err != nil {
			return nil, fmt.Errorf("echo: encode env value: %w", err)
		}
		return out, nil
	default:
		return in, nil
	}
}

func main() {
	lambda.Start(handle)
}
