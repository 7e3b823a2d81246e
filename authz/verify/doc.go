// Package verify implements one [authz.Verifier] per signature scheme, one
// file each. Constructors take resolved secrets; package authz/policy builds
// verifiers from policy files.
//
// Every verifier tries each of its secrets, so several are accepted at once
// during a rotation, compares in constant time, and reports failures as
// authz.SignatureMissing or authz.SignatureInvalid with a detail that never
// quotes a secret, a signature or the body.
package verify
