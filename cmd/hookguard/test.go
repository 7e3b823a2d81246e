package main

import (
	"io"
	"regexp"

	"github.com/hookguard/hookguard/authz/policytest"
)

// test runs the policy tests of each directory (see package
// authz/policytest); "DIR/..." includes the directories below DIR.
func test(args []string, stdout, stderr io.Writer) int {
	fs := newSubcommand("test", "[-v] [--run REGEXP] DIR...",
		"Run the policy tests (*_test.yaml) of each directory DIR against its policies;\nDIR/... also runs those of every directory below DIR. Exit status 1 when a\ncase fails.",
		stdout, stderr)
	verbose := fs.Bool("v", false, "report passing cases too")
	match := fs.String("run", "", "run only the cases whose \"file: name\" matches this `regexp`")
	dirs, err := fs.parse(args)
	if err == nil && len(dirs) == 0 {
		err = fs.errorf("missing DIR, a policy directory with *_test.yaml files")
	}
	opts := policytest.Options{Out: stdout, Verbose: *verbose}
	if err == nil && *match != "" {
		opts.Match, err = regexp.Compile(*match)
		if err != nil {
			err = fs.errorf("--run %q: %v", *match, err)
		}
	}
	if err != nil {
		return fs.exit(err)
	}
	if !policytest.Run(dirs, opts).OK() {
		return 1
	}
	return 0
}
