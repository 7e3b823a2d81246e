package main

import (
	"runtime/debug"
	"testing"
)

func TestBuildOf(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
	for _, tc := range []struct {
		name             string
		stamped, stampRe string
		info             *debug.BuildInfo
		want             build
	}{
		{
			name: "make build stamps both", stamped: "v1.2.0-3-g1a2b3c4-dirty", stampRe: rev,
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")},
			want: build{Version: "v1.2.0-3-g1a2b3c4-dirty", Revision: rev, Modified: true, GoVersion: "go1.26.8"},
		},
		{
			name: "go install module@v1.2.0: the module version, no VCS",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			want: build{Version: "v1.2.0", Revision: "unknown", GoVersion: "go1.26.8"},
		},
		{
			name: "go install module@commit: the pseudo-version holds the commit",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260101120000-1a2b3c4d5e6f"}},
			want: build{Version: "v0.0.0-20260101120000-1a2b3c4d5e6f", Revision: "1a2b3c4d5e6f", GoVersion: "go1.26.8"},
		},
		{
			name: "go install ./cmd/hookguard in a clone: Go's version and the revision",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.1-0.20260101120000-1a2b3c4d5e6f+dirty"}, Settings: vcs(rev, "true")},
			want: build{Version: "v1.2.1-0.20260101120000-1a2b3c4d5e6f+dirty", Revision: rev, Modified: true, GoVersion: "go1.26.8"},
		},
		{
			name: "(devel) with VCS information: the revision",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")},
			want: build{Version: "1a2b3c4d5e6f-dirty", Revision: rev, Modified: true, GoVersion: "go1.26.8"},
		},
		{
			name: "nothing known",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: build{Version: "unknown", Revision: "unknown", GoVersion: "go1.26.8"},
		},
	} {
		if got := buildOf(tc.stamped, tc.stampRe, tc.info); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}
