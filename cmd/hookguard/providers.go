package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hookguard/hookguard/authz/verify"
)

func providers(args []string, stdout, stderr io.Writer) int {
	fs := newSubcommand("providers", "[--format text|json] [NAME...]",
		"List the provider catalog: each provider's name (for verify: {provider: {name: NAME}}),\nmechanism, default tolerance and handshakes, or, for the NAMEs given, every detail.\nUnsupported providers are listed with the reason.",
		stdout, stderr)
	format := fs.String("format", "text", "output `format`: text or json")
	names, err := fs.parse(args)
	if err == nil && *format != "text" && *format != "json" {
		err = fs.errorf("--format %q: must be text or json", *format)
	}
	if err != nil {
		return fs.exit(err)
	}
	list := verify.Providers()
	if len(names) > 0 {
		list = list[:0:0]
		for _, name := range names {
			p, ok := verify.LookupProvider(name)
			if !ok {
				fmt.Fprintf(stderr, "hookguard providers: unknown provider %q; closest: %s\n", name, strings.Join(verify.ClosestProviders(name, 3), ", "))
				return 1
			}
			list = append(list, p)
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			fmt.Fprintln(stderr, "hookguard providers:", err)
			return 1
		}
		return 0
	}
	if len(names) > 0 {
		for i, p := range list {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			describeProvider(stdout, p)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tMECHANISM\tTOLERANCE\tHANDSHAKES\tALIASES")
	supported := 0
	for _, p := range list {
		mech, tol := p.Mechanism, p.Tolerance
		if !p.Supported() {
			mech = "unsupported"
		} else {
			supported++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", p.Name, p.DisplayName, mech, dash(tol), len(p.Handshakes), dash(strings.Join(p.Aliases, ",")))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%d providers, %d supported. \"hookguard providers NAME\" shows one in full.\n", len(list), supported)
	return 0
}

// describeProvider prints every detail of one catalog entry.
func describeProvider(w io.Writer, p verify.Provider) {
	fmt.Fprintf(w, "%s (%s)\n", p.Name, p.DisplayName)
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-11s %s\n", label+":", value)
		}
	}
	line("aliases", strings.Join(p.Aliases, ", "))
	if !p.Supported() {
		line("unsupported", p.Unsupported)
	} else {
		line("mechanism", p.Mechanism+" "+string(p.Parameters))
		line("versions", strings.Join(p.Versions, ", "))
		line("tolerance", p.Tolerance)
		line("replay key", p.ReplayKey)
		line("options", strings.Join(p.Options, ", "))
		for _, h := range p.Handshakes {
			line("handshake", h)
		}
		line("vector", p.Vector)
	}
	line("quirks", p.Quirks)
	line("docs", p.Docs)
	line("checked", p.Checked)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
