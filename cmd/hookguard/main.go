// Command hookguard is an Envoy external-authorization service that verifies
// webhooks: signatures, replays and endpoints, decided from policy files.
//
//	hookguard serve --policies DIR [flags]    serve ext_authz gRPC
//	hookguard validate [flags] DIR            check a policy directory
//	hookguard test [flags] DIR...             run a policy directory's tests
//	hookguard sign --scheme S --secret-env V  print a signed delivery's headers
//	hookguard providers [NAME...]             list the provider catalog
//	hookguard version                         print the version
//
// Flags may come before or after the directory, and "hookguard COMMAND -h"
// prints a command's synopsis and flags. Every flag can also be set with an
// environment variable HOOKGUARD_<FLAG>, upper case with dashes as
// underscores (--grpc-addr: HOOKGUARD_GRPC_ADDR); a flag on the command
// line wins.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "hookguard: missing command")
		usage(stderr)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "validate":
		return validate(args, stdout, stderr)
	case "test":
		return test(args, stdout, stderr)
	case "sign":
		return sign(args, stdin, stdout, stderr)
	case "providers":
		return providers(args, stdout, stderr)
	case "version", "--version":
		return printVersion(args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) == 1 && args[0] != "help" && !strings.HasPrefix(args[0], "-") {
			// "hookguard help validate" is "hookguard validate -h".
			return run([]string{args[0], "-h"}, stdin, stdout, stderr)
		}
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "hookguard: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: hookguard <command> [flags] [arguments]

commands:
  serve     --policies DIR   serve Envoy ext_authz checks
  validate  DIR              check a policy directory, listing every problem
  test      DIR...           run the policy tests (*_test.yaml) of directories
  sign      --scheme S       print the headers of a signed delivery
            --provider NAME  ... as a provider of the catalog sends it
  providers [NAME...]        list the provider catalog
  version                    print the version

Run "hookguard <command> -h" for a command's synopsis and flags. Flags may
come before or after arguments. Every flag can also be set as
HOOKGUARD_<FLAG> (e.g. HOOKGUARD_GRPC_ADDR).
`)
}

// A subcommand is the flag set and synopsis of one command, parsed the same
// way for every command: flags may follow the positional arguments, "-h"
// prints the synopsis and flags to standard output, and every usage error
// says what was wrong.
type subcommand struct {
	*flag.FlagSet
	// synopsis is the command's arguments, as in
	// "hookguard validate [--format text|json] [--skip-secrets] DIR".
	synopsis string
	// about says in a sentence or two what the command does.
	about          string
	stdout, stderr io.Writer
}

func newSubcommand(name, synopsis, about string, stdout, stderr io.Writer) *subcommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print its errors and its own usage text;
	// exit prints them instead, in one format for every command.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &subcommand{FlagSet: fs, synopsis: synopsis, about: about, stdout: stdout, stderr: stderr}
}

// usageError is a command line the command cannot run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// errorf returns a usage error; exit prints it with the synopsis.
func (c *subcommand) errorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// parse parses args, flags and positional arguments in any order, and
// returns the positional arguments. "--" ends the flags: everything after
// it is positional. A lone "-" is positional (standard input). Every flag
// not given on the command line is then taken from its HOOKGUARD_<FLAG>
// environment variable, if set.
func (c *subcommand) parse(args []string) ([]string, error) {
	var flags, positional []string
	typed := map[string]string{} // flag name → as typed, for errors
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if _, ok := typed[name]; !ok {
			typed[name], _, _ = strings.Cut(a, "=")
		}
		if f := c.Lookup(name); f != nil && !hasValue && !isBool(f) && i+1 < len(args) {
			// The flag's value is the next argument, whatever it looks
			// like: "-run -x" matches "-x".
			i++
			flags = append(flags, args[i])
		}
	}
	if err := c.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag " + typed[name] + c.flagList()
		}
		return nil, c.errorf("%s", msg)
	}
	if err := c.fromEnv(); err != nil {
		return nil, err
	}
	return positional, nil
}

// flagList lists the command's flags for an error about an unknown one.
func (c *subcommand) flagList() string {
	var names []string
	c.VisitAll(func(f *flag.Flag) { names = append(names, dashed(f.Name)) })
	if len(names) == 0 {
		return " (the command takes no flags but -h)"
	}
	return " (flags: " + strings.Join(names, ", ") + ")"
}

// dashed writes a flag name as help shows it: -v, --skip-secrets.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// isBool reports whether f takes no value, as -v and --skip-secrets.
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// fromEnv fills every flag not given on the command line from its
// HOOKGUARD_<FLAG> environment variable.
func (c *subcommand) fromEnv() error {
	given := map[string]bool{}
	c.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	c.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := c.Set(f.Name, v); e != nil {
				err = c.errorf("%s: %v", env, e)
			}
		}
	})
	return err
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	return "HOOKGUARD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// exit reports err and returns the exit code: 0 after printing the help
// that -h asked for, 2 after a usage error.
func (c *subcommand) exit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		c.help(c.stdout)
		return 0
	}
	fmt.Fprintf(c.stderr, "hookguard %s: %v\n", c.Name(), err)
	fmt.Fprintf(c.stderr, "usage: %s\n", c.usageLine())
	fmt.Fprintf(c.stderr, "Run \"hookguard %s -h\" for help.\n", c.Name())
	return 2
}

// usageLine is "hookguard NAME SYNOPSIS".
func (c *subcommand) usageLine() string {
	return strings.TrimSpace("hookguard " + c.Name() + " " + c.synopsis)
}

// help prints the synopsis, what the command does and its flags.
func (c *subcommand) help(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.usageLine(), c.about)
	n := 0
	c.VisitAll(func(f *flag.Flag) {
		if n == 0 {
			fmt.Fprintln(w, "\nflags:")
		}
		n++
		kind, text := flag.UnquoteUsage(f)
		if kind != "" {
			kind = " " + kind
		}
		def := ""
		if !isZero(f) {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  %s%s\n      %s%s\n", dashed(f.Name), kind, text, def)
	})
	if n > 0 {
		fmt.Fprintf(w, "\nEach flag can also be set in the environment as HOOKGUARD_<FLAG>, as %s.\n", envName(firstFlag(c.FlagSet)))
	}
}

// isZero reports whether f's default is its type's zero value, which help
// does not spell out.
func isZero(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s":
		return true
	}
	return false
}

func firstFlag(fs *flag.FlagSet) string {
	name := ""
	fs.VisitAll(func(f *flag.Flag) {
		if name == "" {
			name = f.Name
		}
	})
	return name
}

// noArguments is a usage error for every positional argument of a command
// that takes none.
func (c *subcommand) noArguments(args []string) error {
	if len(args) > 0 {
		return c.errorf("unexpected argument %q", args[0])
	}
	return nil
}
