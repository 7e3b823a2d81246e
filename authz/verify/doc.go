// Package verify implements one [authz.Verifier] per signature scheme, one
// file each, and the registry that makes the schemes known.
//
// # Schemes
//
// A scheme's file registers it once, from an init function, with
// [Register]: the constructor that builds its verifier from its
// configuration message in the policy (the field of the policy's Verify
// message holding that message names the scheme), the signer that makes the
// deliveries its provider sends (see [Sign]), and its traits: whether it
// yields a replay key, checks a timestamp ([Timestamped]) or answers
// handshakes. Package authz/policy builds verifiers through [New], the
// tests iterate [All], and nothing else lists the schemes.
// docs/adding-a-scheme.md walks through adding one.
//
// Each verifier also has a constructor taking resolved secrets, such as
// [NewGitHub], for programs and tests that need no policy.
//
// # What every verifier does
//
// Every verifier tries each of its secrets, so several are accepted at once
// during a rotation, compares in constant time, and reports failures as
// authz.SignatureMissing, authz.SignatureInvalid or
// authz.TimestampOutOfWindow with a detail that never quotes a secret, a
// signature or the body.
//
// Its work does not grow with the number of signatures a request lists:
// each secret's MAC of the signed content is computed once and compared
// with every signature, a body digest once per algorithm, and public-key
// checks are bounded per request, so a forged request costs no more than a
// few valid ones (work.go; the tests count it for every scheme).
//
// Its replay key is built only from what the signature covers: for the HMAC
// schemes the [ContentKey] of the signed content, for the asymmetric ones
// the signature in its one canonical form, and for a scheme that signs a
// delivery id kept across retries (Standard Webhooks, Twitch), that id.
//
// Constructors report a problem with their configuration as a [*FieldError]
// naming the field, which matches [ErrSecretValue] when a secret's value is
// at fault, such as a public key that does not parse.
package verify
