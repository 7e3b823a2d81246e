package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
)

func validate(args []string, stdout, stderr io.Writer) int {
	fs := newSubcommand("validate", "[--format text|json] [--skip-secrets] [--nonce-capacity N] DIR",
		"Check the policy directory DIR as serve would load it, and list every problem\nwith its file, line, endpoint and field. Exit status 1 when DIR is invalid.\nThe JSON report also gives each endpoint's effective settings, such as its\nreplay TTL and share of the replay store.",
		stdout, stderr)
	format := fs.String("format", "text", "output `format`: text or json")
	skipSecrets := fs.Bool("skip-secrets", false, "do not resolve secret references (for a policy repository's CI, where the secrets are absent)")
	nonceCapacity := fs.Int("nonce-capacity", policy.DefaultNonceCapacity, "the replay store's capacity serve runs with, which the endpoints' replay shares must fit in")
	dirs, err := fs.parse(args)
	switch {
	case err != nil:
	case *nonceCapacity <= 0:
		err = fs.errorf("--nonce-capacity %d: must be more than 0", *nonceCapacity)
	case len(dirs) == 0:
		err = fs.errorf("missing DIR, the policy directory")
	case len(dirs) > 1:
		err = fs.errorf("one DIR at a time, got %d: %s", len(dirs), strings.Join(dirs, " "))
	case *format != "text" && *format != "json":
		err = fs.errorf("--format %q: must be text or json", *format)
	}
	if err != nil {
		return fs.exit(err)
	}
	dir := dirs[0]
	opts := policy.Options{NonceCapacity: *nonceCapacity}
	if *skipSecrets {
		opts.Secrets = policy.Placeholders{}
	}
	res, err := policy.Load(dir, opts)
	var errs policy.Errors
	if err != nil && !errors.As(err, &errs) {
		errs = policy.Errors{{File: dir, Message: err.Error()}}
	}
	skipped := 0
	if *skipSecrets {
		// A placeholder is no well-formed key: what the checks of a
		// secret's value say about it means nothing here.
		kept := errs[:0:0]
		for _, e := range errs {
			if e.Code == policy.CodeSecretValue {
				skipped++
				continue
			}
			kept = append(kept, e)
		}
		errs = kept
	}
	var warnings []*policy.Diagnostic
	if res != nil {
		warnings = res.Warnings
	}
	// plural counts n of a noun with an -s plural.
	plural := func(n int, noun string) string {
		if n != 1 {
			noun += "s"
		}
		return fmt.Sprintf("%d %s", n, noun)
	}
	if *format == "json" {
		out := struct {
			Valid     bool                 `json:"valid"`
			Revision  string               `json:"revision,omitempty"`
			Digest    string               `json:"digest,omitempty"`
			Endpoints int                  `json:"endpoints"`
			Errors    []*policy.Diagnostic `json:"errors"`
			Warnings  []*policy.Diagnostic `json:"warnings"`
			// SecretChecksSkipped counts the checks of secret values that
			// --skip-secrets made meaningless.
			SecretChecksSkipped int `json:"secret_checks_skipped,omitempty"`
			// NonceCapacity is the replay store's capacity the shares
			// were computed for.
			NonceCapacity int `json:"nonce_capacity"`
			// ByEndpoint gives each endpoint's effective settings, for a
			// policy repository's CI to assert; empty when the set does
			// not load.
			ByEndpoint []endpointReport `json:"by_endpoint"`
		}{
			Valid: len(errs) == 0,
			// Lists, empty or not, so a consumer never meets null.
			Errors:              append([]*policy.Diagnostic{}, errs...),
			Warnings:            append([]*policy.Diagnostic{}, warnings...),
			SecretChecksSkipped: skipped,
			NonceCapacity:       *nonceCapacity,
			ByEndpoint:          []endpointReport{},
		}
		if res != nil {
			out.Revision, out.Digest, out.Endpoints = res.Revision, res.Digest, len(res.Policy.Endpoints())
			out.ByEndpoint = reportEndpoints(res.Policy)
		} else {
			// A set that does not load still names the version checked,
			// unless the files themselves cannot be read.
			out.Revision, out.Digest, _ = policy.Identify(dir)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		for _, e := range errs {
			fmt.Fprintln(stdout, "error:", e.Error())
		}
		for _, w := range warnings {
			fmt.Fprintln(stdout, "warning:", w.Error())
		}
		switch {
		case res == nil && len(errs) == 0:
			fmt.Fprintf(stdout, "ok: valid but for %s of secret values, skipped with --skip-secrets\n", plural(skipped, "check"))
		case res != nil:
			// The revision is a commit inside a Git checkout; the digest
			// then tells uncommitted edits apart.
			digest := ""
			if res.Digest != res.Revision {
				digest = " (digest " + res.Digest + ")"
			}
			fmt.Fprintf(stdout, "ok: %s in %s, revision %s%s\n", plural(len(res.Policy.Endpoints()), "endpoint"), plural(len(res.Files), "file"), res.Revision, digest)
		default:
			fmt.Fprintf(stdout, "invalid: %s\n", plural(len(errs), "error"))
		}
	}
	if len(errs) > 0 {
		return 1
	}
	return 0
}

// endpointReport is one endpoint in the JSON report of validate.
type endpointReport struct {
	Name   string       `json:"name"`
	Replay replayReport `json:"replay"`
}

// replayReport is an endpoint's effective replay protection, defaults
// applied.
type replayReport struct {
	// Enabled is false when the endpoint has no replay protection: turned
	// off, or a scheme without a replay key. The other fields are then
	// absent.
	Enabled bool `json:"enabled"`
	// TTL is how long a delivery is remembered, as a Go duration
	// ("24h0m0s"), and TTLSeconds the same in seconds.
	TTL        string  `json:"ttl,omitempty"`
	TTLSeconds float64 `json:"ttl_seconds,omitempty"`
	// Capacity is the endpoint's share of the replay store, in deliveries.
	Capacity int `json:"capacity,omitempty"`
	// OnFull is evict_oldest or reject.
	OnFull string `json:"on_full,omitempty"`
	// SustainedPerSecond is the delivery rate the share holds for a whole
	// TTL: above it, deliveries are evicted early (or refused).
	SustainedPerSecond float64 `json:"sustained_per_second,omitempty"`
}

// reportEndpoints describes p's endpoints, sorted by name.
func reportEndpoints(p *authz.Policy) []endpointReport {
	eps := p.Endpoints()
	slices.SortFunc(eps, func(a, b *authz.Endpoint) int { return strings.Compare(a.Name, b.Name) })
	out := make([]endpointReport, 0, len(eps))
	for _, e := range eps {
		r := endpointReport{Name: e.Name}
		if e.ReplayTTL > 0 {
			r.Replay = replayReport{
				Enabled:            true,
				TTL:                e.ReplayTTL.String(),
				TTLSeconds:         e.ReplayTTL.Seconds(),
				Capacity:           e.ReplayCapacity,
				OnFull:             "evict_oldest",
				SustainedPerSecond: math.Round(1000*float64(e.ReplayCapacity)/e.ReplayTTL.Seconds()) / 1000,
			}
			if e.ReplayOnFull == authz.RejectWhenFull {
				r.Replay.OnFull = "reject"
			}
		}
		out = append(out, r)
	}
	return out
}
