// Package authz is hookguard's decision core.
//
// An [Authorizer] takes a provider-neutral [Request] and answers a [Decision]
// from a compiled [Policy] snapshot. It knows nothing of gRPC, Envoy's protobuf
// types or policy files: those live at the edges (package authz/extauthz
// adapts Envoy's ext_authz API, package authz/policy compiles policy files).
// Everything that touches the outside world is reached through a small
// interface: the [Clock], the [NonceStore] and the [Verifier]s, so the core
// can be tested with a fake clock and in-memory state, and run unchanged with
// shared state.
//
// A request passes the stages cheapest first: endpoint selection, method,
// body completeness, signature, and last the nonce, remembered atomically
// only once every other check has passed, so traffic that fails
// authentication can never fill the replay cache.
package authz
