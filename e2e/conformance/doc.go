// Package conformance holds the tests that check hookguard against outside
// references: the providers' own SDKs (sdk/), and, as they are added, the
// upstream API types and parsers of the files hookguard ships. It is a
// module of its own, so those heavy test-only dependencies never appear in
// the go.mod of the hookguard binary.
package conformance
