package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"

	"github.com/hookguard/hookguard/authz/policytest"
)

// test runs the policy tests of each directory (see package
// authz/policytest); "DIR/..." includes the directories below DIR.
func test(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "report passing cases too")
	match := fs.String("run", "", `run only the cases whose "file: name" matches this regular expression`)
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: hookguard test [-v] [-run REGEXP] DIR [DIR/...]...")
		return 2
	}
	opts := policytest.Options{Out: stdout, Verbose: *verbose}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			fmt.Fprintln(stderr, "hookguard test: -run:", err)
			return 2
		}
		opts.Match = re
	}
	if !policytest.Run(fs.Args(), opts).OK() {
		return 1
	}
	return 0
}
