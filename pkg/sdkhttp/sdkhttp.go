// Package sdkhttp owns how Hourglass's AWS SDK clients hand request bodies to
// net/http. It holds one fix, PlainRequestBody, which every SDK config
// Hourglass builds (pkg/config for the functions and the local host,
// pkg/testkit/awstest for tests) installs.
package sdkhttp

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// PlainRequestBody is an SDK API option that hands net/http a request body
// without an io.WriterTo method, so that an answer arriving while net/http
// is still finishing the request cannot be lost.
//
// Why: net/http writes a request body of known length in two copies, the
// ContentLength bytes and then a drain of whatever is left, which it expects
// to end in a clean EOF. The server may answer in between, and as soon as
// the response headers are in, smithy-go closes the request body. Its body
// wrapper (smithy-go transport/http/internal/io.safeWriteToReadCloser)
// then answers WriteTo with the error io.EOF, which the io.WriterTo
// contract forbids. The drain copy uses WriteTo, net/http takes the EOF
// for a failed request write and closes the connection, under the response
// whose body the SDK is reading: the SDK logs "failed to discard remaining
// HTTP response body ... use of closed network connection" and, for
// DynamoDB, "response did not match expected checksum". The call fails
// with an error the retryer treats as a connection error, so a write the
// server applied is sent again and meets its own effect (a conditional put
// fails, a message is sent twice). Against a local emulator, which answers
// within microseconds, this happens every few hundred calls; against AWS
// it takes an unlucky pause of the writing goroutine.
//
// Without WriteTo, the drain copy calls Read, which on the closed body
// returns 0 and io.EOF, the clean end net/http expects.
func PlainRequestBody(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("hourglass-plain-request-body",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok {
				return next.HandleBuild(ctx, in)
			}
			stream, ok := hideWriterTo(req.GetStream())
			if !ok {
				return next.HandleBuild(ctx, in)
			}
			r, err := req.SetStream(stream)
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("sdkhttp: set request stream: %w", err)
			}
			in.Request = r
			return next.HandleBuild(ctx, in)
		}), middleware.Before)
}

// readSeeker is an io.ReadSeeker that has no other methods (no WriteTo),
// keeping the seeking the SDK needs to size, sign and rewind the body.
type readSeeker struct{ io.ReadSeeker }

// hideWriterTo returns stream without its WriteTo method, and whether it
// had one. Only seekable streams are wrapped, which is what every
// serializer of a non-streaming operation produces (a *bytes.Reader); a
// caller's own stream keeps the methods the SDK may size it with.
func hideWriterTo(stream io.Reader) (io.Reader, bool) {
	if _, ok := stream.(io.WriterTo); !ok {
		return stream, false
	}
	rs, ok := stream.(io.ReadSeeker)
	if !ok {
		return stream, false
	}
	return readSeeker{rs}, true
}
