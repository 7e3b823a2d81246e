// Package e2e holds hookguard's end-to-end tests: a real Envoy 1.40 with the
// bootstrap from envoy/envoy.yaml.tmpl, the real hookguard binary and a
// recording upstream, all on 127.0.0.1 (see package e2e/stack).
//
// Run with `go test ./e2e/ -count=1 -v`. The tests fail (they do not skip)
// when Envoy is missing; `make envoy` installs it. Set HOOKGUARD_BIN to reuse
// a prebuilt hookguard and HOOKGUARD_E2E_KEEP=1 to keep the logs directory.
package e2e
