package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hookguard/hookguard/authz/policy"
)

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "output format: text or json")
	skipSecrets := fs.Bool("skip-secrets", false, "do not resolve secret references (for a policy repository's CI, where the secrets are absent)")
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || (*format != "text" && *format != "json") {
		fmt.Fprintln(stderr, "usage: hookguard validate [--format text|json] [--skip-secrets] DIR")
		return 2
	}
	dir := fs.Arg(0)
	var opts policy.Options
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
		}{Valid: len(errs) == 0, Errors: errs, Warnings: warnings, SecretChecksSkipped: skipped}
		if res != nil {
			out.Revision, out.Digest, out.Endpoints = res.Revision, res.Digest, len(res.Policy.Endpoints())
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
			fmt.Fprintf(stdout, "ok: valid but for %d checks of secret values, skipped with --skip-secrets\n", skipped)
		case res != nil:
			// The revision is a commit inside a Git checkout; the digest
			// then tells uncommitted edits apart.
			digest := ""
			if res.Digest != res.Revision {
				digest = " (digest " + res.Digest + ")"
			}
			fmt.Fprintf(stdout, "ok: %d endpoints in %d files, revision %s%s\n", len(res.Policy.Endpoints()), len(res.Files), res.Revision, digest)
		default:
			fmt.Fprintf(stdout, "invalid: %d errors\n", len(errs))
		}
	}
	if len(errs) > 0 {
		return 1
	}
	return 0
}
