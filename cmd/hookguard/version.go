package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
)

// version and revision are stamped by `make build`:
//
//	-ldflags "-X main.version=$(git describe --tags --always --dirty) -X main.revision=$(git rev-parse HEAD)"
//
// A binary built without them (go build, go install) describes itself from
// the build information the Go toolchain embeds; see buildOf.
var version, revision string

// build describes this binary.
type build struct {
	// Version is the release, such as v1.2.0, v1.2.0-3-g1a2b3c4-dirty
	// (git describe) or a Go pseudo-version; "unknown" when nothing says.
	Version string
	// Revision is the commit built from, "unknown" when nothing says;
	// Modified reports uncommitted changes in the tree built.
	Revision string
	Modified bool
	// GoVersion is the toolchain that built it.
	GoVersion string
}

// currentBuild describes the running binary.
func currentBuild() build {
	info, _ := debug.ReadBuildInfo()
	return buildOf(version, revision, info)
}

// pseudoVersion matches a Go pseudo-version, whose last part is the
// commit's 12-character prefix: v0.0.0-20260101120000-1a2b3c4d5e6f.
var pseudoVersion = regexp.MustCompile(`[-.][0-9]{14}-([0-9a-f]{12})(?:\+dirty)?$`)

// buildOf works out the description from what `make build` stamped, else
// from the build information: the main module's version, which is the
// tag for `go install module@v1.2.0` and since Go 1.24 a tag or
// pseudo-version for a build inside a Git checkout, else the VCS revision.
func buildOf(stampedVersion, stampedRevision string, info *debug.BuildInfo) build {
	b := build{Version: stampedVersion, Revision: stampedRevision, GoVersion: runtime.Version()}
	if info != nil {
		b.GoVersion = info.GoVersion
		vcsRevision := ""
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRevision = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		if b.Revision == "" {
			b.Revision = vcsRevision
		}
		if b.Revision == "" {
			if m := pseudoVersion.FindStringSubmatch(b.Version); m != nil {
				b.Revision = m[1]
			}
		}
		if b.Version == "" && vcsRevision != "" {
			b.Version = vcsRevision[:min(12, len(vcsRevision))]
			if b.Modified {
				b.Version += "-dirty"
			}
		}
	}
	if b.Version == "" {
		b.Version = "unknown"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// printVersion is `hookguard version`.
func printVersion(args []string, stdout, stderr io.Writer) int {
	c := newSubcommand("version", "", "Print the version, the commit and the Go toolchain hookguard was built from.", stdout, stderr)
	rest, err := c.parse(args)
	if err == nil {
		err = c.noArguments(rest)
	}
	if err != nil {
		return c.exit(err)
	}
	b := currentBuild()
	modified := ""
	if b.Modified {
		modified = " (modified)"
	}
	fmt.Fprintf(stdout, "hookguard %s\nrevision  %s%s\ngo        %s %s/%s\n", b.Version, b.Revision, modified, b.GoVersion, runtime.GOOS, runtime.GOARCH)
	return 0
}
