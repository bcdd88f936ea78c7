// Package doctest holds the documentation's tests: every relative link in
// README.md, docs/*.md and infra/README.md resolves (anchors included), the
// README stays a front door of at most 200 lines, and every ```sh block of
// README.md and docs/*.md runs, twice in a row, against a dev host of its own
// on the AWS emulator, as a reader would paste it. It has no non-test code.
//
// # Which blocks run
//
// A fenced block opened with ```sh is run with bash -euo pipefail from the
// repository root, unless the line before it (blank lines aside) is
//
//	<!-- docs-test: skip (the reason) -->
//
// for blocks that cannot run here: long-running watchers, deploys to AWS,
// minute-long load runs. Blocks in other languages (json, go, text, or
// none) are never run. A run block fails the test when it exits non-zero, or
// when a comment promises a result it did not print: "# → 201" needs a line
// "→ 201" in its output (the blocks print statuses with
// curl -w '→ %{http_code}\n'), in the order the comments give them, and
// "# → SUCCEEDED" needs that word in its output.
//
// # What the blocks talk to
//
// The blocks read HOURGLASS_API (default http://127.0.0.1:8080, make dev's
// address), which the test sets to its own host; the example webhook
// receiver's address, http://127.0.0.1:9000, is replaced in the text by a
// receiver the test runs, so the test never needs that port. The host runs
// `make dev`'s settings (devhost.DevDefaults, lifecycle events "all") in an
// isolated emulator account; commands that call AWS themselves (go run
// ./scripts/eventbus) reach that account through a proxy that adds the
// account header, as AWS_ENDPOINT_URL.
package doctest
