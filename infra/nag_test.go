package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"
)

// nagFindings returns the messages of cdk-nag AwsSolutions errors on stack.
func nagFindings(stack awscdk.Stack) []string {
	var out []string
	for _, m := range *assertions.Annotations_FromStack(stack).FindError(jsii.String("*"),
		assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		out = append(out, *m.Id+": "+strings.SplitN(m.Entry.Data.(string), ":", 2)[0])
	}
	return out
}

func TestNagAwsSolutionsClean(t *testing.T) {
	for name, s := range allVariants(t) {
		t.Run(name, func(t *testing.T) {
			// GIVEN a variant synthesized with the AwsSolutions pack
			// WHEN its annotations are read
			// THEN no error-level finding is left unsuppressed
			require.Empty(t, nagFindings(s.stack))
		})
	}
}

func TestNagCheckCanFail(t *testing.T) {
	// GIVEN a stack with a queue that allows plain HTTP and has no DLQ
	app := testApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("Careless"), nil)
	awssqs.NewQueue(stack, jsii.String("Plain"), &awssqs.QueueProps{})
	ApplyNag(stack)
	// WHEN the AwsSolutions pack runs
	findings := nagFindings(stack)
	// THEN it reports the queue
	require.NotEmpty(t, findings)
	require.Contains(t, strings.Join(findings, "\n"), "AwsSolutions-SQS4")
}

// acceptedFindings are the only rules this stack suppresses.
var acceptedFindings = map[string]bool{
	"AwsSolutions-IAM5": true, "AwsSolutions-APIG4": true, "AwsSolutions-SMG4": true, "AwsSolutions-ECS2": true,
}

func TestNagSuppressionsCarrySpecificReasons(t *testing.T) {
	for name, s := range allVariants(t) {
		t.Run(name, func(t *testing.T) {
			// GIVEN a variant's template
			count := 0
			// WHEN every cdk-nag suppression in its metadata is read
			for id, r := range s.doc["Resources"].(map[string]any) {
				meta, _ := r.(map[string]any)["Metadata"].(map[string]any)
				nag, _ := meta["cdk_nag"].(map[string]any)
				for _, sup := range asList2(nag["rules_to_suppress"]) {
					rule := sup.(map[string]any)
					count++
					// THEN it is one of the accepted rules, with a reason that
					// says why in a sentence, and IAM5 ones name the exact
					// wildcard they accept
					require.True(t, acceptedFindings[rule["id"].(string)], "%s suppresses %v", id, rule["id"])
					reason, _ := rule["reason"].(string)
					require.GreaterOrEqual(t, len(reason), 60, "%s: reason too short: %q", id, reason)
					if rule["id"] == "AwsSolutions-IAM5" {
						require.NotEmpty(t, rule["applies_to"], "%s: IAM5 suppression without applies_to", id)
					}
				}
			}
			require.Positive(t, count)
			// AND there are no stack-wide suppressions
			meta, _ := s.doc["Metadata"].(map[string]any)
			require.Nil(t, meta["cdk_nag"])
		})
	}
}
