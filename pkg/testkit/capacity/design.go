package capacity

// The design's per-task calls, with full batches everywhere, for one
// one-off task that succeeds at its first attempt. They follow from the
// settings in Inputs, and (for the scan queue's and the dispatcher's and
// scanner's shares) from the rate and the shard count.

// designPerTask is the design's calls that do not depend on the shard
// count:
//
//	Writes      = 2 (create, outcome) + 1 with HOURGLASS_CLAIM=lease (the claim)
//	IndexWrites = 1 with HOURGLASS_LIST_INDEX=1 (the by_tenant entry, at create)
//	Reads       = 1 (the worker's GetItem; a lease claim returns the item it wrote)
//	QueryReads  = ScanPasses (the dispatch and the sweep each query the partition)
//	APIRequests = 1 / CreateBatch (0.01 in batches of 100, the default; 1 for
//	              single creates)
//	Events      = 1 with HOURGLASS_LIFECYCLE_EVENTS=all, else 0 (a task that
//	              succeeds publishes nothing with the default, failures)
//
// The create's read of the scanner cursor is left out: one read serves
// every create of the API process until the cursor passes the task's
// bucket.
func designPerTask(in Inputs) PerTask {
	per := PerTask{Writes: 2, Reads: 1, QueryReads: ScanPasses, APIRequests: 1 / float64(in.CreateBatch)}
	if in.Claim == ClaimLease {
		per.Writes++
	}
	if in.ListIndex {
		per.IndexWrites = 1
	}
	if in.LifecycleEvents == EventsAll {
		per.Events = 1
	}
	return per
}

// designShares fills in the design's SQS requests and Lambda invocations,
// which depend on the rate R, the bucket width and the shard count:
//
//	SQSRequests = 3 / 10 (a tenth each of the task message's SendMessageBatch
//	              — the dispatcher's, or the batch create's fast path —, the
//	              worker's ReceiveMessage and its DeleteMessageBatch)
//	            + ScanPasses × shards × (1/10 + 1 + 1) / (R × bucket)
//	              (the scan queue: each (bucket, shard) unit's share of a
//	              SendMessageBatch, its receive and its delete, twice)
//	Invocations = 1 / B (the worker's batch: 10 for the Lambda worker)
//	            + ScanPasses × shards / (R × bucket) (one dispatcher per unit)
//	            + 1 / (R × scanner period) (one scanner tick)
//
// Idle long polls are left out: they amortise away at volume.
func designShares(in Inputs, shards int, per *PerTask) {
	tasksPerBucket := in.RatePerS * float64(in.BucketSeconds)
	units := ScanPasses * float64(shards)
	per.SQSRequests = 3.0/SQSBatch + units*(1.0/SQSBatch+1+1)/tasksPerBucket
	per.Invocations = 1/float64(in.WorkerBatch) + units/tasksPerBucket + 1/(in.RatePerS*in.ScannerPeriodSeconds)
}
