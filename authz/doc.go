// Package authz is hookguard's decision core.
//
// An [Authorizer] takes a provider-neutral [Request] and answers a [Decision]
// from a compiled [Policy] snapshot. A decision is read one way everywhere:
// [Decision.Outcome] is the policy's verdict (allow, deny or handshake), which
// the decision log, the metrics and `hookguard test` report, and
// [Decision.Answer] is the HTTP answer (forward with header changes, or
// hookguard's own status, headers and body), which a proxy adapter only
// converts. It knows nothing of gRPC, Envoy's
// protobuf types or policy files, and does no I/O of its own: the outside
// world is reached through small interfaces, the [Clock], the [NonceStore],
// the [Limiter] and the [Verifier]s, so the core can be tested with a fake
// clock and in-memory state and run unchanged with shared state.
//
// # Layers
//
// The tree under authz/ is laid out by layer:
//
//   - authz: this package, the core. It imports no other hookguard package.
//   - authz/verify: one [Verifier] per signature scheme, each registered
//     once with its signer and its traits (see verify.Register).
//   - authz/policy: compiles policy directories into [Policy] snapshots, and
//     validates them for `hookguard validate`.
//   - authz/policytest: runs policy tests for `hookguard test`.
//   - authz/daemon: the process behind `hookguard serve`: listeners, reload,
//     health, metrics, graceful stop.
//   - authz/internal/...: adapters that are not API: the Envoy ext_authz
//     gRPC adapter (extauthz), the in-memory nonce store (replay) and
//     limiter (ratelimit), and the policy file watcher (reload).
//
// # Stages
//
// [Authorizer.Check] runs a request through these stages, in this order,
// and stops at the first that denies:
//
//  1. endpoint: the route's context extension, else host, path and method,
//     selects the endpoint ([NoEndpoint], [MethodNotAllowed]);
//  2. source: the source address against the endpoint's allow and deny
//     sets ([SourceNotAllowed]);
//  3. client identity: the mTLS client certificate's principal, SANs or pin
//     ([ClientCertificateRequired], [ClientIdentityDenied]);
//  4. source budgets: the source's failure budget is not empty (a peek),
//     and the request takes a token from the source's bucket
//     ([RateLimited]);
//  5. body: the body Envoy forwarded is whole ([BodyTruncated]);
//  6. handshake: a provider's endpoint verification, answered by hookguard
//     itself ([Handshake]);
//  7. signature: the endpoint's [Verifier] ([SignatureMissing],
//     [SignatureInvalid], [TimestampOutOfWindow]); such a failure takes a
//     token from the source's failure budget;
//  8. endpoint budget: the verified delivery takes a token from the
//     endpoint's bucket ([RateLimited]);
//  9. payload: size, content type, JSON and JSON Schema
//     ([BodyTooLarge], [UnsupportedMediaType], [MalformedPayload],
//     [SchemaViolation]);
//  10. nonce: the delivery's replay keys are remembered ([Replayed]).
//
// The order is the cost order: who sends and how often is settled before
// any cryptography, so a flood is cut cheaply; the budget every sender
// shares is charged only once the signature verified, so forged requests
// cannot spend it, while failed verifications are charged to their own
// source, so a prober cuts off no one but itself; the payload rules are
// checked only for authenticated senders, so a prober learns nothing of
// them; and the nonce is remembered last, atomically, only once every other
// check has passed, so traffic that fails authentication can never fill the
// replay cache. Any error that prevents a decision denies with
// [Unavailable].
package authz
