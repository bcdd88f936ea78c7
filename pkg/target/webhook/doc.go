// Package webhook is the HTTPS webhook target: it POSTs a task's payload,
// signed per the Standard Webhooks spec, to a URL that the SSRF guard allows, and maps the response to
// the worker's retry decisions.
//
// # Target spec
//
// A task stores its target as JSON (target.Invocation.Spec):
//
//	{
//	  "kind": "webhook",                     // accepted and ignored (the worker routes on it)
//	  "url": "https://hooks.example.com/x",  // required; https, ≤ 2048 bytes, no user:pass@
//	  "headers": {"Authorization": "Bearer …"}, // optional; ≤ 32, names are RFC 9110 tokens
//	  "timeout_ms": 10000                    // optional; 100…60000, default 10000
//	}
//
// Field names are exact (case-sensitive); any other field is refused. Headers
// may not override Content-Type, Content-Length, Content-Encoding, Host,
// Expect, Idempotency-Key, hop-by-hop headers (Connection, Keep-Alive, TE,
// Trailer, Transfer-Encoding, Upgrade, Proxy-*) or anything starting with
// Hourglass- or Webhook-. A task may set User-Agent. Validate names the offending field:
// "url", "headers.<Name as written>", "timeout_ms" or the unknown field; ""
// means the spec is not a JSON object.
//
// # Request
//
// Each attempt is POST url with body = the payload bytes exactly as stored
// ("null" when empty) and these headers:
//
//	Content-Type: application/json
//	Hourglass-Task-Id: <task ID>
//	Hourglass-Attempt: <1-based attempt>
//	Idempotency-Key: <the invocation's idempotency key, the same on every attempt>
//	webhook-id: msg_<MessageID(tenant, idempotency key)>, the same on every attempt
//	webhook-timestamp: <unix seconds, fresh on every attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)> [v1,<…previous key>]
//	Hourglass-Message-Id: <the task queue's message ID>
//	Hourglass-Origin: <what sent that message: fast, dispatch, sweep, retry, redrive, chain, requeue:<first origin>, unknown>
//	Hourglass-Received-At: <unix ms when the worker received it>
//	Hourglass-Visible-Until: <unix ms when it becomes visible again unless deleted; only when known>
//
// The last four are delivery facts (target.Delivery): a receiver that
// de-duplicates by Idempotency-Key can also tell a duplicate's cause — the
// same message ID again within its visibility is the queue's own
// redelivery, after it a visibility timeout; two message IDs name two sends.
//
// The three webhook-* headers are the Standard Webhooks ones
// (https://www.standardwebhooks.com/), so the official libraries verify a
// delivery. The key is the tenant's, from Config.Secret (pkg/signing keeps
// one per tenant, stored): its "whsec_" form is what the tenant reads from
// GET /v1/signing-secret. While a rotated secret's grace period lasts the
// header carries two signatures, the current key's first. Of the
// headers, webhook-id, webhook-timestamp and the body are signed: a
// receiver deduplicates on webhook-id, not on the unsigned Idempotency-Key,
// task ID or attempt headers, which are there for convenience. Receivers
// can check a delivery with Verify, which compares in constant time and
// refuses stale timestamps.
//
// # Outcomes
//
// 2xx succeeds (Result.StatusCode, Result.Summary = the first 256 bytes of the
// body; at most 64 KiB is ever read). 408, 425, 429 and 5xx are retried; 429
// and 503 with a Retry-After header return a *target.RetryAfterError. Redirects
// are not followed: a 3xx is permanent, as is any other 4xx. Network errors
// and timeouts are retried. A destination the guard refuses is permanent.
//
// # SSRF guard
//
// Only public unicast addresses are dialled. Refused: loopback, private
// (RFC 1918, fc00::/7), link-local (169.254.0.0/16 with the EC2 and ECS
// metadata endpoints, fe80::/10, fd00:ec2::254), unspecified, 0.0.0.0/8,
// CGNAT 100.64.0.0/10, multicast, broadcast, reserved, documentation and
// benchmarking ranges, IPv6 outside 2000::/3, Teredo, and the IPv4-mapped,
// NAT64 (64:ff9b::/96) and 6to4 forms of any refused IPv4 address
// (IPv4-compatible and SIIT forms are refused outright). Hosts are
// normalised (case, one trailing dot) and a host whose last label is numeric
// must be canonical dotted-decimal IPv4, so 2130706433, 0x7f.1, 017700000001
// and 127.1 are refused rather than guessed at; "localhost" names are
// refused. Validate checks literal hosts; at dial time the transport
// resolves each name once through Config.Resolver, refuses it if any answer
// is refused, and dials the checked address itself, so DNS rebinding cannot
// slip a second answer in. Proxies from the environment are ignored.
//
// Config.Allow is the operator's exception list (dev mode's local sink,
// never task data): CIDRs, IPs, IP:port or host:port. Allow-listed
// destinations bypass the address checks and are the only ones plain http
// may reach.
package webhook
