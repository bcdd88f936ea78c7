package config_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// These tests change the process environment with t.Setenv, so none of them
// runs in parallel.

// vars is every variable Load reads.
var vars = []string{
	"HOURGLASS_TABLE", "HOURGLASS_SCAN_QUEUE_URL", "HOURGLASS_TASK_QUEUE_URL", "HOURGLASS_TASK_DLQ_URL",
	"HOURGLASS_SHARDS", "HOURGLASS_BUCKET_SECONDS", "HOURGLASS_LOOKAHEAD_SECONDS", "HOURGLASS_LEASE_SECONDS",
	"HOURGLASS_SWEEP_SECONDS", "HOURGLASS_EARLY_DELIVERY_MS", "HOURGLASS_ANNOUNCE_WAIT_MS", "HOURGLASS_LOG_LEVEL", "HOURGLASS_DEV",
	"HOURGLASS_SIGNING_KEY", "HOURGLASS_SIGNING_SECRET_ARN", "HOURGLASS_WEBHOOK_ALLOW",
	"HOURGLASS_SIGNING_KMS_KEY", "HOURGLASS_SIGNING_GRACE",
	"HOURGLASS_BUS_NAME", "HOURGLASS_INGEST_QUEUE_URL", "HOURGLASS_INGEST_DLQ_URL", "HOURGLASS_INGEST_SOURCES",
	"HOURGLASS_LIFECYCLE_EVENTS",
	"HOURGLASS_LIST_INDEX",
	"HOURGLASS_CLAIM",
	"HOURGLASS_SCAN_DLQ_URL", "HOURGLASS_TARGET_ALLOW", "HOURGLASS_TENANT_MAP",
	"HOURGLASS_POLL_VISIBILITY_SECONDS",
	"AWS_LAMBDA_FUNCTION_NAME", "ECS_CONTAINER_METADATA_URI_V4",
	"HOURGLASS_TENANT_CLAIM", "HOURGLASS_WORKER_MODE", "HOURGLASS_ADDR", "HOURGLASS_CLOCK_SKEW_MS",
	"HOURGLASS_TENANT_DISPATCH_RATE", "HOURGLASS_FAIR_QUEUE_DEPTH", "HOURGLASS_TENANT_WEIGHTS", "HOURGLASS_TENANT_CREATE_RATE", "HOURGLASS_CREATE_WRITERS",
	"HOURGLASS_TENANT_MAX_IN_FLIGHT",
}

// clearEnv blanks every variable, which Load treats as unset, so that the
// developer's or CI's environment cannot leak into a test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range vars {
		t.Setenv(k, "")
	}
}

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		t.Setenv(k, v)
	}
}

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, config.Config{
		Table:          "hourglass-tasks",
		Shards:         16,
		Bucket:         60 * time.Second,
		Lookahead:      180 * time.Second,
		Lease:          60 * time.Second,
		SweepDelay:     30 * time.Second,
		PollVisibility: 5 * time.Second,
		EarlyDelivery:  0,
		AnnounceWait:   time.Second,
		LogLevel:       "info",
		Limits:         task.DefaultLimits(),
		BusName:        "hourglass",
		// A rotated webhook signing secret signs beside the new one a day.
		SigningGrace: 24 * time.Hour,
		// Lifecycle events: failures only by default (issue 6's cost budget).
		LifecycleEvents: "failures",
		// Outside development mode no ARN target is allowed until
		// HOURGLASS_TARGET_ALLOW says which.
		TargetAllow: mustAllow(t, ""),
		// Fairness (issue 17): see docs/fairness.md.
		TenantDispatchRate: 1000,
		FairQueueDepth:     1000,
		TenantCreateRate:   500,
		CreateWriters:      64,
	}, c)
	assert.False(t, c.TargetAllow.Allows("acme", "arn:aws:sqs:us-east-1:123456789012:orders"))
	assert.Equal(t, task.Layout{Bucket: time.Minute}, c.Layout())
}

func TestLoadParsesEveryVariable(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{
		"HOURGLASS_TABLE":                   "tbl",
		"HOURGLASS_SCAN_QUEUE_URL":          "http://q/scan",
		"HOURGLASS_TASK_QUEUE_URL":          "http://q/tasks",
		"HOURGLASS_TASK_DLQ_URL":            "http://q/dlq",
		"HOURGLASS_SHARDS":                  "7",
		"HOURGLASS_BUCKET_SECONDS":          "30",
		"HOURGLASS_LOOKAHEAD_SECONDS":       "90",
		"HOURGLASS_LEASE_SECONDS":           "45",
		"HOURGLASS_SWEEP_SECONDS":           "12",
		"HOURGLASS_EARLY_DELIVERY_MS":       "1000",
		"HOURGLASS_ANNOUNCE_WAIT_MS":        "500",
		"HOURGLASS_LOG_LEVEL":               "debug",
		"HOURGLASS_SIGNING_KEY":             "k",
		"HOURGLASS_SIGNING_SECRET_ARN":      "arn:aws:secretsmanager:us-east-1:123456789012:secret:hg",
		"HOURGLASS_SIGNING_KMS_KEY":         "alias/hourglass-signing",
		"HOURGLASS_SIGNING_GRACE":           "90m",
		"HOURGLASS_WEBHOOK_ALLOW":           "10.0.0.0/8",
		"HOURGLASS_BUS_NAME":                "scheduler",
		"HOURGLASS_INGEST_QUEUE_URL":        "http://q/ingest",
		"HOURGLASS_INGEST_DLQ_URL":          "http://q/ingest-dlq",
		"HOURGLASS_INGEST_SOURCES":          "com.example.orders=acme",
		"HOURGLASS_LIFECYCLE_EVENTS":        "all",
		"HOURGLASS_LIST_INDEX":              "true",
		"HOURGLASS_CLAIM":                   "lease",
		"HOURGLASS_POLL_VISIBILITY_SECONDS": "9",
		"HOURGLASS_SCAN_DLQ_URL":            "http://q/scan-dlq",
		"HOURGLASS_TARGET_ALLOW":            "acme=arn:aws:sqs:*:*:acme-*|arn:aws:events:*:*:event-bus/acme,*=",
		"HOURGLASS_TENANT_MAP":              "arn:aws:iam::123456789012:role/orders=orders, arn:aws:iam::123456789012:user/ops=ops",
		"HOURGLASS_TENANT_DISPATCH_RATE":    "70",
		"HOURGLASS_FAIR_QUEUE_DEPTH":        "300",
		"HOURGLASS_TENANT_WEIGHTS":          "orders=4",
		"HOURGLASS_TENANT_CREATE_RATE":      "250",
		"HOURGLASS_CREATE_WRITERS":          "6",
		"HOURGLASS_TENANT_MAX_IN_FLIGHT":    "40",
	})
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, config.Config{
		Table:            "tbl",
		ScanQueueURL:     "http://q/scan",
		TaskQueueURL:     "http://q/tasks",
		TaskDLQURL:       "http://q/dlq",
		Shards:           7,
		Bucket:           30 * time.Second,
		Lookahead:        90 * time.Second,
		Lease:            45 * time.Second,
		SweepDelay:       12 * time.Second,
		PollVisibility:   9 * time.Second,
		EarlyDelivery:    time.Second,
		AnnounceWait:     500 * time.Millisecond,
		LogLevel:         "debug",
		SigningKey:       "k",
		SigningSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:hg",
		SigningKMSKey:    "alias/hourglass-signing",
		SigningGrace:     90 * time.Minute,
		WebhookAllow:     []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Limits:           task.DefaultLimits(),
		BusName:          "scheduler",
		IngestQueueURL:   "http://q/ingest",
		IngestDLQURL:     "http://q/ingest-dlq",
		IngestSources:    "com.example.orders=acme",
		LifecycleEvents:  "all",
		ListIndex:        true,
		ClaimLease:       true,
		ScanDLQURL:       "http://q/scan-dlq",
		TargetAllow:      mustAllow(t, "acme=arn:aws:sqs:*:*:acme-*|arn:aws:events:*:*:event-bus/acme,*="),
		TenantMap: map[string]string{
			"arn:aws:iam::123456789012:role/orders": "orders", "arn:aws:iam::123456789012:user/ops": "ops",
		},
		TenantDispatchRate: 70,
		FairQueueDepth:     300,
		TenantWeights:      map[string]int{"orders": 4},
		TenantCreateRate:   250,
		CreateWriters:      6,
		TenantMaxInFlight:  40,
	}, c)
	assert.Equal(t, 10, c.TenantDispatchPerShard())
	assert.True(t, c.TargetAllow.Allows("acme", "arn:aws:sqs:eu-west-1:123456789012:acme-orders"))
	assert.False(t, c.TargetAllow.Allows("globex", "arn:aws:sqs:eu-west-1:123456789012:acme-orders"))
	assert.ElementsMatch(t, []string{"http://q/tasks", "http://q/dlq", "http://q/scan", "http://q/scan-dlq", "http://q/ingest", "http://q/ingest-dlq"},
		c.OwnResources().Queues, "every queue of Hourglass's own is reserved")
	assert.Equal(t, []string{"scheduler"}, c.OwnResources().Buses)
	assert.Zero(t, c.CancelCutoff(), "a claim settles a late cancel")
	assert.Equal(t, task.Layout{Bucket: 30 * time.Second}, c.Layout())
}

func mustAllow(t *testing.T, s string) *target.AllowList {
	t.Helper()
	l, err := target.ParseAllow(s, nil)
	require.NoError(t, err)
	return l
}

// TestLoadTargetAllowDevDefault: development mode allows every ARN target
// unless HOURGLASS_TARGET_ALLOW says otherwise, so make dev examples work.
func TestLoadTargetAllowDevDefault(t *testing.T) {
	clearEnv(t)
	t.Setenv("HOURGLASS_DEV", "1")
	c, err := config.Load()
	require.NoError(t, err)
	assert.Nil(t, c.TargetAllow, "nil: every ARN")
	t.Setenv("HOURGLASS_TARGET_ALLOW", "*=")
	c, err = config.Load()
	require.NoError(t, err)
	assert.False(t, c.TargetAllow.Allows("acme", "arn:aws:sqs:us-east-1:123456789012:q"))
}

func TestLoadRejectsBadSigningGrace(t *testing.T) {
	for _, v := range []string{"24", "-1h", "59s", "721h", "a day"} {
		clearEnv(t)
		t.Setenv("HOURGLASS_SIGNING_GRACE", v)
		_, err := config.Load()
		assert.ErrorContains(t, err, "HOURGLASS_SIGNING_GRACE", v)
	}
}

func TestLoadRejectsBadTargetAllowAndTenantMap(t *testing.T) {
	for k, v := range map[string]string{
		"HOURGLASS_TARGET_ALLOW": "acme",
		"HOURGLASS_TENANT_MAP":   "arn:aws:iam::1:role/x",
	} {
		clearEnv(t)
		t.Setenv(k, v)
		_, err := config.Load()
		assert.ErrorContains(t, err, k)
	}
	for _, v := range []string{"acme=sqs:orders", "acme=arn:a,acme=arn:b", "=arn:a"} {
		clearEnv(t)
		t.Setenv("HOURGLASS_TARGET_ALLOW", v)
		_, err := config.Load()
		assert.ErrorContains(t, err, "HOURGLASS_TARGET_ALLOW", v)
	}
	for _, v := range []string{"role/x=t", "arn:aws:iam::1:role/x=", "arn:aws:iam::1:role/x=a,arn:aws:iam::1:role/x=b"} {
		clearEnv(t)
		t.Setenv("HOURGLASS_TENANT_MAP", v)
		_, err := config.Load()
		assert.ErrorContains(t, err, "HOURGLASS_TENANT_MAP", v)
	}
}

func TestLoadAcceptsBounds(t *testing.T) {
	for _, tc := range []struct {
		k, v  string
		check func(c config.Config) bool
	}{
		{"HOURGLASS_SHARDS", "1", func(c config.Config) bool { return c.Shards == 1 }},
		{"HOURGLASS_SHARDS", "65536", func(c config.Config) bool { return c.Shards == 65536 }},
		{"HOURGLASS_BUCKET_SECONDS", "1", func(c config.Config) bool { return c.Bucket == time.Second }},
		{"HOURGLASS_LEASE_SECONDS", "5", func(c config.Config) bool { return c.Lease == 5*time.Second }},
		{"HOURGLASS_EARLY_DELIVERY_MS", "10000", func(c config.Config) bool { return c.EarlyDelivery == 10*time.Second }},
		{"HOURGLASS_LIFECYCLE_EVENTS", "all", func(c config.Config) bool { return c.LifecycleEvents == "all" }},
		{"HOURGLASS_LIFECYCLE_EVENTS", "failures", func(c config.Config) bool { return c.LifecycleEvents == "failures" }},
		{"HOURGLASS_LIFECYCLE_EVENTS", "off", func(c config.Config) bool { return c.LifecycleEvents == "off" }},
	} {
		t.Run(tc.k+"="+tc.v, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.k, tc.v)
			c, err := config.Load()
			require.NoError(t, err)
			assert.True(t, tc.check(c), "%+v", c)
		})
	}
}

func TestLoadRejectsInvalidValues(t *testing.T) {
	for _, tc := range []struct{ k, v string }{
		{"HOURGLASS_SHARDS", "many"},
		{"HOURGLASS_SHARDS", "0"},
		{"HOURGLASS_SHARDS", "65537"},
		{"HOURGLASS_SHARDS", "2.5"},
		{"HOURGLASS_BUCKET_SECONDS", "0"},
		{"HOURGLASS_BUCKET_SECONDS", "3601"},
		{"HOURGLASS_BUCKET_SECONDS", "60s"},
		{"HOURGLASS_LOOKAHEAD_SECONDS", "0"},
		{"HOURGLASS_LOOKAHEAD_SECONDS", "900"},
		{"HOURGLASS_LEASE_SECONDS", "4"},
		{"HOURGLASS_LEASE_SECONDS", "43201"},
		{"HOURGLASS_SWEEP_SECONDS", "0"},
		{"HOURGLASS_SWEEP_SECONDS", "-1"},
		{"HOURGLASS_POLL_VISIBILITY_SECONDS", "2"},
		{"HOURGLASS_POLL_VISIBILITY_SECONDS", "43201"},
		{"HOURGLASS_EARLY_DELIVERY_MS", "-1"},
		{"HOURGLASS_EARLY_DELIVERY_MS", "10001"},
		{"HOURGLASS_ANNOUNCE_WAIT_MS", "-1"},
		{"HOURGLASS_ANNOUNCE_WAIT_MS", "60001"},
		{"HOURGLASS_WEBHOOK_ALLOW", "10.0.0.1"},
		{"HOURGLASS_WEBHOOK_ALLOW", "10.0.0.0/8,not-a-cidr"},
		{"HOURGLASS_WEBHOOK_ALLOW", "10.0.0.0/33"},
		{"HOURGLASS_LIST_INDEX", "yes"},
		{"HOURGLASS_LIST_INDEX", "2"},
		{"HOURGLASS_LIST_INDEX", "on"},
		{"HOURGLASS_LIFECYCLE_EVENTS", "none"},
		{"HOURGLASS_CLAIM", "optimistic"},
		{"HOURGLASS_CLAIM", "LEASE"},
		{"HOURGLASS_LIFECYCLE_EVENTS", "ALL"},
		{"HOURGLASS_LIFECYCLE_EVENTS", "succeeded"},
	} {
		t.Run(tc.k+"="+tc.v, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.k, tc.v)
			_, err := config.Load()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.k, "the error names the variable")
		})
	}
}

func TestLoadRefusesLookaheadPlusBucketOver900(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{"HOURGLASS_BUCKET_SECONDS": "60", "HOURGLASS_LOOKAHEAD_SECONDS": "841"})
	_, err := config.Load()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HOURGLASS_LOOKAHEAD_SECONDS")
	assert.Contains(t, err.Error(), "HOURGLASS_BUCKET_SECONDS")

	// Exactly 900 is SQS's longest delay, so it is allowed.
	t.Setenv("HOURGLASS_LOOKAHEAD_SECONDS", "840")
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, 900*time.Second, c.Lookahead+c.Bucket)
}

func TestLoadWebhookAllow(t *testing.T) {
	clearEnv(t)
	t.Setenv("HOURGLASS_WEBHOOK_ALLOW", " 10.0.0.0/8, 192.168.1.0/24,,fd00::/8 ,")
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.1.0/24"),
		netip.MustParsePrefix("fd00::/8"),
	}, c.WebhookAllow)
	assert.False(t, c.Dev)
	assert.Empty(t, c.SigningKey, "outside dev mode there is no default signing key")
}

func TestLoadDevMode(t *testing.T) {
	loopback4 := netip.MustParsePrefix("127.0.0.0/8")
	loopback6 := netip.MustParsePrefix("::1/128")

	t.Run("adds loopback and a signing key", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("HOURGLASS_DEV", "1")
		c, err := config.Load()
		require.NoError(t, err)
		assert.True(t, c.Dev)
		assert.Equal(t, []netip.Prefix{loopback4, loopback6}, c.WebhookAllow)
		assert.NotEmpty(t, c.SigningKey)
	})
	t.Run("keeps the given allow-list and key", func(t *testing.T) {
		clearEnv(t)
		setEnv(t, map[string]string{"HOURGLASS_DEV": "1", "HOURGLASS_WEBHOOK_ALLOW": "10.1.0.0/16", "HOURGLASS_SIGNING_KEY": "mine"})
		c, err := config.Load()
		require.NoError(t, err)
		assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), loopback4, loopback6}, c.WebhookAllow)
		assert.Equal(t, "mine", c.SigningKey)
	})
	t.Run("only 1 turns it on", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("HOURGLASS_DEV", "0")
		c, err := config.Load()
		require.NoError(t, err)
		assert.False(t, c.Dev)
		assert.Empty(t, c.WebhookAllow)
		assert.Empty(t, c.SigningKey)
	})
}

// TestLoadListIndex: the by_tenant list index is off unless
// HOURGLASS_LIST_INDEX says 1 or true (any case); 0 and false say off.
func TestLoadListIndex(t *testing.T) {
	for v, want := range map[string]bool{"": false, "1": true, "true": true, "TRUE": true, " True ": true, "0": false, "false": false, "False": false} {
		t.Run("HOURGLASS_LIST_INDEX="+v, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("HOURGLASS_LIST_INDEX", v)
			c, err := config.Load()
			require.NoError(t, err)
			assert.Equal(t, want, c.ListIndex)
		})
	}
}

// Without claims (the default) a task stops being cancellable MaxHold plus
// a second before it runs; the early delivery widens both.
func TestClaimModeAndCancelCutoff(t *testing.T) {
	clearEnv(t)
	c, err := config.Load()
	require.NoError(t, err)
	assert.False(t, c.ClaimLease)
	assert.Equal(t, 2*time.Second, c.MaxHold())
	assert.Equal(t, 3*time.Second, c.CancelCutoff())
	t.Setenv("HOURGLASS_EARLY_DELIVERY_MS", "1000")
	c, err = config.Load()
	require.NoError(t, err)
	assert.Equal(t, 4*time.Second, c.CancelCutoff())
}

// A Config built in code without a bus name still reserves the default
// bus, and unset queue URLs reserve nothing.
func TestOwnResourcesDefaults(t *testing.T) {
	own := config.Config{TaskQueueURL: "http://q/tasks"}.OwnResources()
	assert.Equal(t, []string{"hourglass"}, own.Buses)
	assert.Contains(t, own.Queues, "http://q/tasks")
	assert.Empty(t, own.FunctionPrefix, "the default prefix, hourglass-")
}

// The scanner's wait after announcing must leave most of the look-ahead
// for dispatch.
func TestAnnounceWaitUnderHalfTheLookahead(t *testing.T) {
	clearEnv(t)
	t.Setenv("HOURGLASS_LOOKAHEAD_SECONDS", "5")
	t.Setenv("HOURGLASS_ANNOUNCE_WAIT_MS", "2500")
	_, err := config.Load()
	require.ErrorContains(t, err, "HOURGLASS_ANNOUNCE_WAIT_MS")
	t.Setenv("HOURGLASS_ANNOUNCE_WAIT_MS", "2000")
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, c.AnnounceWait)
}

// The platform's marker variable says where the process runs, and so
// whether metrics go out as EMF lines.
func TestLoadRuntime(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want config.Runtime
		emf  bool
	}{
		{nil, config.RuntimeLocal, false},
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "hourglass-api"}, config.RuntimeLambda, true},
		{map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"}, config.RuntimeECS, true},
	} {
		clearEnv(t)
		setEnv(t, tc.env)
		c, err := config.Load()
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.Runtime, "%v", tc.env)
		assert.Equal(t, tc.emf, c.EMFMetrics(), "%v", tc.env)
	}
}

func TestLoadProcessSettings(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{"HOURGLASS_TENANT_CLAIM": "org", "HOURGLASS_WORKER_MODE": "poll",
		"HOURGLASS_ADDR": "127.0.0.1:9999", "HOURGLASS_CLOCK_SKEW_MS": "-2000"})
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, "org", c.TenantClaim)
	assert.True(t, c.WorkerPoll)
	assert.Equal(t, "127.0.0.1:9999", c.Addr)
	assert.Equal(t, -2*time.Second, c.ClockSkew)

	t.Setenv("HOURGLASS_WORKER_MODE", "lambda")
	c, err = config.Load()
	require.NoError(t, err)
	assert.False(t, c.WorkerPoll)

	for k, v := range map[string]string{"HOURGLASS_WORKER_MODE": "fargate", "HOURGLASS_CLOCK_SKEW_MS": "soon"} {
		clearEnv(t)
		t.Setenv(k, v)
		_, err := config.Load()
		require.Error(t, err, k)
		assert.Contains(t, err.Error(), k)
	}
}

func TestSetDefaultsKeepsWhatIsSet(t *testing.T) {
	t.Setenv("HOURGLASS_ADDR", "127.0.0.1:1")
	t.Setenv("HOURGLASS_TABLE", "")
	config.SetDefaults(map[string]string{"HOURGLASS_ADDR": "127.0.0.1:2", "HOURGLASS_TABLE": "t"})
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:1", c.Addr)
	// Set but empty counts as set: the default does not replace it.
	assert.Equal(t, "hourglass-tasks", c.Table)
}

func TestLoadFairness(t *testing.T) {
	clearEnv(t)
	c, err := config.Load()
	require.NoError(t, err)
	assert.Equal(t, 1000, c.TenantDispatchRate)
	assert.Equal(t, 1000, c.FairQueueDepth)
	assert.Equal(t, 500, c.TenantCreateRate)
	assert.Nil(t, c.TenantWeights)
	assert.Zero(t, c.TenantMaxInFlight, "no in-flight cap unless set")
	assert.Equal(t, 63, c.TenantDispatchPerShard(), "1,000 over 16 shards, rounded up")

	t.Setenv("HOURGLASS_TENANT_DISPATCH_RATE", "0")
	t.Setenv("HOURGLASS_FAIR_QUEUE_DEPTH", "50")
	t.Setenv("HOURGLASS_TENANT_CREATE_RATE", "-1")
	t.Setenv("HOURGLASS_TENANT_WEIGHTS", " gold=3, silver = 2 ")
	c, err = config.Load()
	require.NoError(t, err)
	assert.Equal(t, 0, c.TenantDispatchPerShard(), "0: pacing off")
	assert.Equal(t, 50, c.FairQueueDepth)
	assert.Equal(t, -1, c.TenantCreateRate)
	assert.Equal(t, map[string]int{"gold": 3, "silver": 2}, c.TenantWeights)

	for k, v := range map[string]string{
		"HOURGLASS_TENANT_WEIGHTS":       "gold",
		"HOURGLASS_TENANT_CREATE_RATE":   "0",
		"HOURGLASS_TENANT_DISPATCH_RATE": "-3",
		"HOURGLASS_TENANT_MAX_IN_FLIGHT": "2001",
		"HOURGLASS_CREATE_WRITERS":       "0",
	} {
		clearEnv(t)
		t.Setenv(k, v)
		_, err := config.Load()
		require.ErrorContains(t, err, k)
	}
	clearEnv(t)
	t.Setenv("HOURGLASS_TENANT_WEIGHTS", "gold=1,gold=2")
	_, err = config.Load()
	require.ErrorContains(t, err, "twice")

	for _, v := range []string{"-1", "many"} {
		clearEnv(t)
		t.Setenv("HOURGLASS_TENANT_MAX_IN_FLIGHT", v)
		_, err = config.Load()
		require.ErrorContains(t, err, "HOURGLASS_TENANT_MAX_IN_FLIGHT")
	}
	clearEnv(t)
	t.Setenv("HOURGLASS_TENANT_MAX_IN_FLIGHT", "5")
	t.Setenv("HOURGLASS_TENANT_DISPATCH_RATE", "0")
	_, err = config.Load()
	require.ErrorContains(t, err, "HOURGLASS_TENANT_MAX_IN_FLIGHT=5 needs fair dispatch")
}
