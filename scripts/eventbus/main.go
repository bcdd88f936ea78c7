// Command eventbus talks to the Hourglass event bus of a running `make dev`
// (or any bus the AWS SDK's environment reaches), without the aws CLI:
//
//	go run ./scripts/eventbus put -source com.example.orders -detail '{"tenant":"acme", ...}'
//	go run ./scripts/eventbus watch          # a rule of your own: print every Hourglass event
//
// put puts one event (detail-type CreateTask unless -detail-type says
// otherwise) and prints its event ID. watch creates a queue and a rule
// matching source "hourglass" on the bus (both named -name), then prints
// each event the rule delivers, one JSON object a line, until interrupted.
//
// With no AWS_ENDPOINT_URL set it talks to the local emulator at
// http://127.0.0.1:4566 with dummy credentials.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "put" && os.Args[1] != "watch") {
		fmt.Fprintln(os.Stderr, "usage: eventbus put [-bus hourglass] [-source s] [-detail-type CreateTask] -detail JSON\n       eventbus watch [-bus hourglass] [-name my-hourglass-events]")
		os.Exit(2)
	}
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		_ = os.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := config.AWS(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventbus:", err)
		os.Exit(1)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	bus := fs.String("bus", "hourglass", "event bus name")
	switch os.Args[1] {
	case "put":
		source := fs.String("source", "com.example.orders", "event source (must be allowed for the tenant: HOURGLASS_INGEST_SOURCES)")
		detailType := fs.String("detail-type", "CreateTask", "detail-type")
		detail := fs.String("detail", "", "the event's detail (JSON object)")
		_ = fs.Parse(os.Args[2:])
		err = put(ctx, cfg, *bus, *source, *detailType, *detail)
	case "watch":
		name := fs.String("name", "my-hourglass-events", "name of the queue and rule to create")
		_ = fs.Parse(os.Args[2:])
		err = watch(ctx, cfg, *bus, *name)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "eventbus:", err)
		os.Exit(1)
	}
}

func put(ctx context.Context, cfg aws.Config, bus, source, detailType, detail string) error {
	if !json.Valid([]byte(detail)) {
		return fmt.Errorf("-detail must be JSON, got %q", detail)
	}
	out, err := eventbridge.NewFromConfig(cfg).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: &bus, Source: &source, DetailType: &detailType, Detail: &detail,
	}}})
	if err != nil {
		return fmt.Errorf("put event on %s: %w", bus, err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("put event on %s: rejected: %s", bus, aws.ToString(out.Entries[0].ErrorMessage))
	}
	fmt.Println(aws.ToString(out.Entries[0].EventId))
	return nil
}

func watch(ctx context.Context, cfg aws.Config, bus, name string) error {
	url, err := provision.EnsureQueue(ctx, cfg, name)
	if err != nil {
		return err
	}
	if err := provision.RuleToQueue(ctx, cfg, bus, name, map[string]any{"source": []string{"hourglass"}}, url); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "eventbus: rule %s on bus %s → queue %s; waiting for events (Ctrl-C stops)\n", name, bus, url)
	q := sqs.NewFromConfig(cfg)
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 5})
		if err != nil {
			return fmt.Errorf("receive from %s: %w", url, err)
		}
		for _, m := range out.Messages {
			fmt.Println(aws.ToString(m.Body))
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				return fmt.Errorf("delete from %s: %w", url, err)
			}
		}
	}
}
