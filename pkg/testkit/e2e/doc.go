// Package e2e holds Hourglass's end-to-end integration tests: whole stacks on
// the AWS emulator, driven step by step, with crashes injected between steps.
// It has no non-test code.
package e2e
