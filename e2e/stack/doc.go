// Package stack runs hookguard's end-to-end environment on loopback: a
// throwaway CA and server certificate, a real Envoy rendered from
// envoy/envoy.yaml.tmpl, a hookguard process and a recording upstream.
//
// Constructors take a directory and an io.Writer for progress lines instead of
// a *testing.T, so the same code drives both the e2e tests and `make demo`
// (cmd/demo), and the demo binary does not link package testing.
// Every wait in this package is bounded, and every process it starts is
// stopped by Stop (and, on Linux, killed if the parent dies first).
package stack
