package devhost_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// schedulerClient is the unmodified AWS SDK Scheduler client, pointed at
// the host and signing with the dev key of tenant.
func schedulerClient(base, tenant, secret string) *scheduler.Client {
	return scheduler.New(scheduler.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(base),
		Credentials: credentials.NewStaticCredentialsProvider("dev-"+tenant, secret, ""),
	})
}

// TestSchedulerAPIWithTheSDK is issue 15's done-when test: the AWS SDK's
// own Scheduler client drives every operation of the compatible API on a
// dev host.
func TestSchedulerAPIWithTheSDK(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	env := awstest.New(t)
	ctx := context.Background()
	base, _ := startHost(t, env, testConfig(), "devsch")
	c := schedulerClient(base, "acme", "dev")
	queueURL, err := provision.EnsureQueue(ctx, env.Config, env.Name("sch-target"))
	require.NoError(t, err)
	queueArn := "arn:aws:sqs:us-east-1:" + env.AccountID + ":" + env.Name("sch-target")
	role := "arn:aws:iam::" + env.AccountID + ":role/scheduler-role"
	var nf *types.ResourceNotFoundException
	var inv *types.ValidationException
	var cf *types.ConflictException

	// Groups, with tags on the group's ARN.
	g, err := c.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String("team"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}})
	require.NoError(t, err)
	groupArn := aws.ToString(g.ScheduleGroupArn)
	assert.Equal(t, "arn:aws:scheduler:us-east-1:000000000000:schedule-group/team", groupArn)
	_, err = c.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String("team")})
	require.ErrorAs(t, err, &cf)
	gg, err := c.GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String("team")})
	require.NoError(t, err)
	assert.Equal(t, types.ScheduleGroupStateActive, gg.State)
	assert.Equal(t, groupArn, aws.ToString(gg.Arn))
	assert.WithinDuration(t, time.Now(), aws.ToTime(gg.CreationDate), time.Minute)
	_, err = c.GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String("nope")})
	require.ErrorAs(t, err, &nf)
	_, err = c.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String("bad/name")})
	require.Error(t, err, "a name the path cannot carry is refused")
	lg, err := c.ListScheduleGroups(ctx, &scheduler.ListScheduleGroupsInput{})
	require.NoError(t, err)
	var names []string
	for _, x := range lg.ScheduleGroups {
		names = append(names, aws.ToString(x.Name))
	}
	assert.Equal(t, []string{"default", "team"}, names)
	_, err = c.TagResource(ctx, &scheduler.TagResourceInput{ResourceArn: aws.String(groupArn), Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("ops")}}})
	require.NoError(t, err)
	tags, err := c.ListTagsForResource(ctx, &scheduler.ListTagsForResourceInput{ResourceArn: aws.String(groupArn)})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"env": "dev", "owner": "ops"}, tagMap(tags.Tags))
	_, err = c.UntagResource(ctx, &scheduler.UntagResourceInput{ResourceArn: aws.String(groupArn), TagKeys: []string{"env"}})
	require.NoError(t, err)
	tags, err = c.ListTagsForResource(ctx, &scheduler.ListTagsForResourceInput{ResourceArn: aws.String(groupArn)})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"owner": "ops"}, tagMap(tags.Tags))

	// Schedules: create (idempotent under its ClientToken), get, replace, list.
	input := &scheduler.CreateScheduleInput{
		Name: aws.String("nightly"), GroupName: aws.String("team"), ClientToken: aws.String("tok-1"),
		Description:        aws.String("the nightly report"),
		ScheduleExpression: aws.String("cron(0 3 * * ? *)"), ScheduleExpressionTimezone: aws.String("Europe/Paris"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeFlexible, MaximumWindowInMinutes: aws.Int32(15)},
		Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role), Input: aws.String(`{"report":"nightly"}`),
			RetryPolicy:      &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(3), MaximumEventAgeInSeconds: aws.Int32(3600)},
			DeadLetterConfig: &types.DeadLetterConfig{Arn: aws.String(queueArn + "-dlq")}},
	}
	cs, err := c.CreateSchedule(ctx, input)
	require.NoError(t, err)
	arn := aws.ToString(cs.ScheduleArn)
	assert.Equal(t, "arn:aws:scheduler:us-east-1:000000000000:schedule/team/nightly", arn)
	again, err := c.CreateSchedule(ctx, input)
	require.NoError(t, err, "the same ClientToken answers the schedule it created")
	assert.Equal(t, arn, aws.ToString(again.ScheduleArn))
	input.ClientToken = aws.String("tok-2")
	_, err = c.CreateSchedule(ctx, input)
	require.ErrorAs(t, err, &cf, "another token under a taken name")

	got, err := c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("nightly"), GroupName: aws.String("team")})
	require.NoError(t, err)
	assert.Equal(t, arn, aws.ToString(got.Arn))
	assert.Equal(t, "cron(0 3 * * ? *)", aws.ToString(got.ScheduleExpression))
	assert.Equal(t, "Europe/Paris", aws.ToString(got.ScheduleExpressionTimezone))
	assert.Equal(t, "the nightly report", aws.ToString(got.Description))
	assert.Equal(t, types.ScheduleStateEnabled, got.State)
	assert.Equal(t, types.ActionAfterCompletionNone, got.ActionAfterCompletion)
	assert.Equal(t, types.FlexibleTimeWindowModeFlexible, got.FlexibleTimeWindow.Mode)
	assert.Equal(t, int32(15), aws.ToInt32(got.FlexibleTimeWindow.MaximumWindowInMinutes))
	assert.Equal(t, queueArn, aws.ToString(got.Target.Arn))
	assert.Equal(t, role, aws.ToString(got.Target.RoleArn))
	assert.JSONEq(t, `{"report":"nightly"}`, aws.ToString(got.Target.Input))
	assert.Equal(t, int32(3), aws.ToInt32(got.Target.RetryPolicy.MaximumRetryAttempts))
	assert.Equal(t, int32(3600), aws.ToInt32(got.Target.RetryPolicy.MaximumEventAgeInSeconds))
	assert.Equal(t, queueArn+"-dlq", aws.ToString(got.Target.DeadLetterConfig.Arn))
	_, err = c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("nightly")})
	require.ErrorAs(t, err, &nf, "the default group has no schedule of that name")

	// UpdateSchedule replaces: what it leaves out returns to its default.
	_, err = c.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
		Name: aws.String("nightly"), GroupName: aws.String("team"), State: types.ScheduleStateDisabled,
		ScheduleExpression: aws.String("rate(5 minutes)"), FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)},
	})
	require.NoError(t, err)
	got, err = c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("nightly"), GroupName: aws.String("team")})
	require.NoError(t, err)
	assert.Equal(t, "rate(5 minutes)", aws.ToString(got.ScheduleExpression))
	assert.Equal(t, types.ScheduleStateDisabled, got.State)
	assert.Empty(t, aws.ToString(got.Description))
	assert.Nil(t, got.Target.Input)
	assert.Nil(t, got.Target.DeadLetterConfig)
	assert.Equal(t, types.FlexibleTimeWindowModeOff, got.FlexibleTimeWindow.Mode)
	_, err = c.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{Name: aws.String("absent"), ScheduleExpression: aws.String("rate(5 minutes)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)}})
	require.ErrorAs(t, err, &nf)

	for _, n := range []string{"a-1", "a-2", "b-1"} {
		_, err = c.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String(n), ScheduleExpression: aws.String("cron(0 3 * * ? *)"),
			FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)}})
		require.NoError(t, err)
	}
	// A /v1 schedule has no name: the Scheduler API does not list it.
	status, _ := v1(t, base, http.MethodPost, "/v1/schedules", `{"expression":"rate(1 hour)","target":{"kind":"sqs","queue_url":"`+queueURL+`"}}`)
	require.Equal(t, http.StatusCreated, status)
	var listed []string
	var token *string
	for {
		page, err := c.ListSchedules(ctx, &scheduler.ListSchedulesInput{GroupName: aws.String("default"), NamePrefix: aws.String("a-"), MaxResults: aws.Int32(1), NextToken: token})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Schedules), 1)
		for _, s := range page.Schedules {
			listed = append(listed, aws.ToString(s.Name))
			assert.Equal(t, queueArn, aws.ToString(s.Target.Arn))
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	assert.ElementsMatch(t, []string{"a-1", "a-2"}, listed)
	all, err := c.ListSchedules(ctx, &scheduler.ListSchedulesInput{})
	require.NoError(t, err)
	assert.Len(t, all.Schedules, 4, "the named schedules of every group, and no /v1 one")
	disabled, err := c.ListSchedules(ctx, &scheduler.ListSchedulesInput{State: types.ScheduleStateDisabled})
	require.NoError(t, err)
	require.Len(t, disabled.Schedules, 1)
	assert.Equal(t, "nightly", aws.ToString(disabled.Schedules[0].Name))
	assert.Equal(t, "team", aws.ToString(disabled.Schedules[0].GroupName))

	// Typed validation errors, naming the field.
	bad := func(mut func(in *scheduler.CreateScheduleInput), want string) {
		t.Helper()
		in := &scheduler.CreateScheduleInput{Name: aws.String("bad"), ScheduleExpression: aws.String("rate(1 hour)"),
			FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)}}
		mut(in)
		_, err := c.CreateSchedule(ctx, in)
		require.ErrorAs(t, err, &inv)
		assert.Contains(t, aws.ToString(inv.Message), want)
	}
	bad(func(in *scheduler.CreateScheduleInput) { in.ScheduleExpression = aws.String("every day") }, "ScheduleExpression")
	bad(func(in *scheduler.CreateScheduleInput) { in.ScheduleExpressionTimezone = aws.String("Mars/Olympus") }, "ScheduleExpressionTimezone")
	bad(func(in *scheduler.CreateScheduleInput) {
		in.Target.Arn = aws.String("arn:aws:kinesis:us-east-1:" + env.AccountID + ":stream/s")
	}, "supported target ARNs")
	bad(func(in *scheduler.CreateScheduleInput) {
		in.Target.Arn = aws.String("arn:aws:scheduler:::aws-sdk:sns:publish")
	}, "universal (aws-sdk) targets are not supported")
	bad(func(in *scheduler.CreateScheduleInput) { in.ActionAfterCompletion = "KEEP" }, "ActionAfterCompletion")
	bad(func(in *scheduler.CreateScheduleInput) { in.GroupName = aws.String("bad group") }, "GroupName")
	_, err = c.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("x"), GroupName: aws.String("nope"), ScheduleExpression: aws.String("rate(1 hour)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)}})
	require.ErrorAs(t, err, &nf, "a schedule in a group that does not exist")
	_, err = c.ListSchedules(ctx, &scheduler.ListSchedulesInput{MaxResults: aws.Int32(101)})
	require.ErrorAs(t, err, &inv)
	_, err = c.DeleteScheduleGroup(ctx, &scheduler.DeleteScheduleGroupInput{Name: aws.String("default")})
	require.ErrorAs(t, err, &inv)

	// An at() schedule that deletes itself once it ran, while its run stays readable.
	at := time.Now().UTC().Add(5 * time.Second).Truncate(time.Second)
	_, err = c.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("once"), ScheduleExpression: aws.String("at(" + at.Format("2006-01-02T15:04:05") + ")"),
		ActionAfterCompletion: types.ActionAfterCompletionDelete,
		FlexibleTimeWindow:    &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:                &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role), Input: aws.String(`{"hello":"at"}`)}})
	require.NoError(t, err)
	id := schedule.NamedID("acme", "default", "once")
	status, occ := v1(t, base, http.MethodGet, "/v1/schedules/"+id+"/occurrences", "")
	require.Equal(t, http.StatusOK, status, "%v", occ)
	occs := occ["occurrences"].([]any)
	require.Len(t, occs, 1, "the occurrence task exists before it fires")
	taskID := occs[0].(map[string]any)["task_id"].(string)
	status, sv := v1(t, base, http.MethodGet, "/v1/schedules/"+id, "")
	require.Equal(t, http.StatusOK, status, "%v", sv)
	assert.Equal(t, "once", sv["name"], "one schedule, two views")
	assert.Equal(t, "default", sv["group"])
	assert.Equal(t, "DELETE", sv["action_after_completion"])

	q := sqs.NewFromConfig(env.Config)
	var body string
	var lateness time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for body == "" {
		require.False(t, time.Now().After(deadline), "the at() schedule's message never arrived")
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameSentTimestamp}})
		require.NoError(t, err)
		for _, m := range out.Messages {
			if strings.Contains(aws.ToString(m.Body), "hello") {
				body = aws.ToString(m.Body)
				var ms int64
				_, _ = fmt.Sscan(m.Attributes["SentTimestamp"], &ms)
				lateness = time.UnixMilli(ms).Sub(at)
			}
		}
	}
	assert.JSONEq(t, `{"hello":"at"}`, body)
	t.Logf("at() delivered %v after its time", lateness)
	assert.GreaterOrEqual(t, lateness, -100*time.Millisecond, "not early (SentTimestamp has ms resolution)")
	assert.LessOrEqual(t, lateness, time.Second, "within 1 s of its time")
	for {
		_, err = c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("once")})
		if errors.As(err, &nf) {
			break
		}
		require.NoError(t, err)
		require.False(t, time.Now().After(deadline), "the completed schedule was not deleted")
		time.Sleep(100 * time.Millisecond)
	}
	status, tv := v1(t, base, http.MethodGet, "/v1/tasks/"+taskID, "")
	require.Equal(t, http.StatusOK, status, "%v", tv)
	assert.Equal(t, "SUCCEEDED", tv["state"])

	// A name freed by a delete is taken again: the new schedule's
	// occurrences are its own, not the deleted one's (same ID, same fire time).
	_, err = c.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("a-2"), ScheduleExpression: aws.String("cron(0 3 * * ? *)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)}})
	require.ErrorAs(t, err, &cf)
	_, err = c.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String("a-2")})
	require.NoError(t, err)
	_, err = c.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("a-2"), ScheduleExpression: aws.String("cron(0 3 * * ? *)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)}})
	require.NoError(t, err, "a deleted schedule's name can be taken again")

	// Deletes: a schedule; a group with its schedules.
	_, err = c.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String("a-1")})
	require.NoError(t, err)
	_, err = c.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String("a-1")})
	require.ErrorAs(t, err, &nf)
	_, err = c.DeleteScheduleGroup(ctx, &scheduler.DeleteScheduleGroupInput{Name: aws.String("team")})
	require.NoError(t, err)
	_, err = c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("nightly"), GroupName: aws.String("team")})
	require.ErrorAs(t, err, &nf, "deleting a group deletes its schedules")
	_, err = c.GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String("team")})
	require.ErrorAs(t, err, &nf)
	_, err = c.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("late"), GroupName: aws.String("team"), ScheduleExpression: aws.String("cron(0 3 * * ? *)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(queueArn), RoleArn: aws.String(role)}})
	require.ErrorAs(t, err, &nf, "no schedule in a group that does not exist")

	// Another tenant sees none of it.
	other, err := schedulerClient(base, "globex", "dev").ListSchedules(ctx, &scheduler.ListSchedulesInput{})
	require.NoError(t, err)
	assert.Empty(t, other.Schedules)
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// v1 calls the host's /v1 API as tenant acme.
func v1(t *testing.T, base, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer dev-acme")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestSchedulerAPIRefusesBadSignatures signs requests with the SDK's raw
// signer at times of our choosing (the SDK client would correct its clock
// and hide a stale date).
func TestSchedulerAPIRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	env := awstest.New(t)
	base, _ := startHost(t, env, testConfig(), "devsig4")
	send := func(key, secret string, at time.Time) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/schedule-groups/default", nil)
		require.NoError(t, err)
		sum := sha256.Sum256(nil)
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "scheduler", "eu-west-1", at))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(b)
	}
	status, code, body := send("dev-acme", "dev", time.Now())
	require.Equal(t, http.StatusOK, status, body)
	assert.Empty(t, code)
	assert.Contains(t, body, "arn:aws:scheduler:eu-west-1:000000000000:schedule-group/default")
	for _, tc := range []struct {
		name, key, secret string
		at                time.Time
		code              string
	}{
		{"wrong secret", "dev-acme", "not-dev", time.Now(), "InvalidSignatureException"},
		{"unknown key", "AKIAIOSFODNN7EXAMPLE", "dev", time.Now(), "UnrecognizedClientException"},
		{"stale date", "dev-acme", "dev", time.Now().Add(-6 * time.Minute), "InvalidSignatureException"},
		{"future date", "dev-acme", "dev", time.Now().Add(6 * time.Minute), "InvalidSignatureException"},
	} {
		status, code, body := send(tc.key, tc.secret, tc.at)
		assert.Equal(t, http.StatusForbidden, status, tc.name)
		assert.Equal(t, tc.code, code, tc.name)
		var msg map[string]string
		require.NoError(t, json.Unmarshal([]byte(body), &msg), tc.name)
		assert.NotEmpty(t, msg["Message"], tc.name)
	}
	// The SDK raises the refusal as an API error with AWS's code.
	_, err := schedulerClient(base, "acme", "wrong").ListSchedules(context.Background(), &scheduler.ListSchedulesInput{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "InvalidSignatureException")

	// A key issued by POST /v1/access-keys signs as its tenant until it is
	// revoked (at once on the instance that revoked it).
	st, key := v1(t, base, http.MethodPost, "/v1/access-keys", "")
	require.Equal(t, http.StatusCreated, st, key)
	id, secret := key["access_key_id"].(string), key["secret_access_key"].(string)
	require.NotEmpty(t, id)
	require.NotEmpty(t, secret)
	status, code, body = send(id, secret, time.Now())
	require.Equal(t, http.StatusOK, status, body)
	assert.Empty(t, code)
	status, code, _ = send(id, "not-"+secret, time.Now())
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "InvalidSignatureException", code)
	st, _ = v1(t, base, http.MethodDelete, "/v1/access-keys/"+id, "")
	require.Equal(t, http.StatusNoContent, st)
	status, code, _ = send(id, secret, time.Now())
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "UnrecognizedClientException", code)
}
