// Command hookguard is an Envoy external-authorization service that verifies
// webhooks: signatures, replays and endpoints, decided from policy files.
//
//	hookguard serve --policies DIR [flags]    serve ext_authz gRPC
//	hookguard validate DIR                    check a policy directory
//	hookguard test DIR                        run a policy directory's tests
//	hookguard sign --scheme S --secret-env V  print a signed delivery's headers
//	hookguard version                         print the version
//
// Every flag can also be set with an environment variable HOOKGUARD_<FLAG>,
// upper case with dashes as underscores (--grpc-addr: HOOKGUARD_GRPC_ADDR).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "validate":
		return validate(args, stdout, stderr)
	case "test":
		return test(args, stdout, stderr)
	case "sign":
		return sign(args, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "hookguard", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "hookguard: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: hookguard <command> [flags]

commands:
  serve     --policies DIR   serve Envoy ext_authz checks
  validate  DIR              check a policy directory, listing every problem
  test      DIR              run the policy tests (*_test.yaml) of a directory
  sign      --scheme S       print the headers of a signed delivery
  version                    print the version

Run "hookguard <command> -h" for a command's flags. Every flag can also be
set as HOOKGUARD_<FLAG> (e.g. HOOKGUARD_GRPC_ADDR).
`)
}

// parseFlags parses args, then fills every flag not given on the command
// line from its HOOKGUARD_<FLAG> environment variable. Errors are printed to
// the flag set's output, as the flag package prints its own.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := "HOOKGUARD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
				fmt.Fprintln(fs.Output(), err)
			}
		}
	})
	return err
}
