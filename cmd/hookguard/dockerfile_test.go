package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The version and revision every build line is expanded with.
const (
	testVersion  = "v0.0.0-buildtest"
	testRevision = "0123abcd"
)

// goBuild is one `go build` command line, split into its parts.
type goBuild struct {
	env   map[string]string // VAR=value before "go"
	flags []string          // every argument but -o and its value, and the package
	out   string            // the -o value
	pkg   string
}

// parseGoBuild finds the go build command in line: optional VAR=value
// words, then go build, flags and the package ./cmd/hookguard.
func parseGoBuild(t *testing.T, line string) goBuild {
	t.Helper()
	words := shellWords(t, line)
	i := slices.Index(words, "build")
	if i < 1 || words[i-1] != "go" {
		t.Fatalf("no go build in %q", line)
	}
	b := goBuild{env: map[string]string{}}
	for _, w := range words[:i-1] {
		if k, v, ok := strings.Cut(w, "="); ok && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
			b.env[k] = v
		}
	}
	args := words[i+1:]
	for j := 0; j < len(args); j++ {
		switch {
		case args[j] == "-o" && j+1 < len(args):
			b.out = args[j+1]
			j++
		case strings.HasPrefix(args[j], "./"):
			b.pkg = args[j]
		case args[j] == ";":
			j = len(args)
		default:
			b.flags = append(b.flags, args[j])
		}
	}
	return b
}

// shellWords splits a command line as sh would for the quoting used here:
// single and double quotes, no expansion.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case r == ';':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
			words = append(words, ";")
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// makeLines runs make -n for target with the test version and returns the
// recipe's lines that run go build.
func makeLines(t *testing.T, target string) []string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "-n", "-s", "--no-print-directory", target,
		"VERSION="+testVersion, "REVISION="+testRevision, "GO=go")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", target, err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "go build") {
			lines = append(lines, strings.TrimSuffix(strings.TrimSpace(l), "\\"))
		}
	}
	return lines
}

// dockerfileBuild returns the Dockerfile's go build line, with its build
// arguments expanded as docker would pass them.
func dockerfileBuild(t *testing.T) (goBuild, []string) {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var runs []string
	var copies []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(l, "RUN "); ok && strings.Contains(rest, "go build") {
			runs = append(runs, rest)
		}
		if rest, ok := strings.CutPrefix(l, "COPY "); ok && !strings.HasPrefix(rest, "--from") {
			fields := strings.Fields(rest)
			copies = append(copies, fields[:len(fields)-1]...)
		}
	}
	if len(runs) != 1 {
		t.Fatalf("Dockerfile has %d RUN lines with go build, want 1", len(runs))
	}
	line := strings.NewReplacer("${VERSION}", testVersion, "${REVISION}", testRevision,
		"$TARGETOS", "linux", "$TARGETARCH", "amd64").Replace(runs[0])
	if strings.Contains(line, "$") {
		t.Fatalf("Dockerfile build line has an argument this test does not expand: %q", line)
	}
	return parseGoBuild(t, line), copies
}

// The image's binary is make build's binary: same environment (no cgo),
// same flags, same package. GOOS and GOARCH are the image's platform.
func TestDockerfileBuildsAsMakefile(t *testing.T) {
	docker, _ := dockerfileBuild(t)
	builds := makeLines(t, "build")
	if len(builds) != 1 {
		t.Fatalf("make -n build printed %d go build lines, want 1: %q", len(builds), builds)
	}
	mk := parseGoBuild(t, builds[0])
	if docker.env["CGO_ENABLED"] != "0" || mk.env["CGO_ENABLED"] != "0" {
		t.Errorf("CGO_ENABLED: Dockerfile %q, make build %q; want 0 in both (a static binary)",
			docker.env["CGO_ENABLED"], mk.env["CGO_ENABLED"])
	}
	delete(docker.env, "GOOS")
	delete(docker.env, "GOARCH")
	if fmt.Sprint(docker.env) != fmt.Sprint(mk.env) {
		t.Errorf("build environment: Dockerfile %v, make build %v", docker.env, mk.env)
	}
	if !slices.Equal(docker.flags, mk.flags) {
		t.Errorf("build flags differ:\n Dockerfile: %q\n make build: %q", docker.flags, mk.flags)
	}
	if docker.pkg != "./cmd/hookguard" || mk.pkg != docker.pkg {
		t.Errorf("package: Dockerfile %q, make build %q", docker.pkg, mk.pkg)
	}
	stamped := strings.Join(mk.flags, " ")
	if !strings.Contains(stamped, "-X main.version="+testVersion) {
		t.Errorf("make build does not stamp the version: %q", stamped)
	}

	// make release builds the same way, once per platform.
	releases := makeLines(t, "release")
	if len(releases) != 1 {
		t.Fatalf("make -n release printed %d go build lines, want 1 (in its loop): %q", len(releases), releases)
	}
	rel := parseGoBuild(t, releases[0])
	delete(rel.env, "GOOS")
	delete(rel.env, "GOARCH")
	if fmt.Sprint(rel.env) != fmt.Sprint(mk.env) || !slices.Equal(rel.flags, mk.flags) || rel.pkg != mk.pkg {
		t.Errorf("make release builds otherwise than make build:\n release: %v %q %s\n build:   %v %q %s",
			rel.env, rel.flags, rel.pkg, mk.env, mk.flags, mk.pkg)
	}
}

// The image is distroless and non-root, and the build stage copies
// everything the binary imports: the build line, run on a copy of only the
// COPY'd paths, compiles.
func TestDockerfileImage(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM[ \t]+(?:--platform=\S+[ \t]+)?(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) != 2 || !strings.HasPrefix(froms[1][1], "gcr.io/distroless/static") || !strings.HasSuffix(froms[1][1], ":nonroot") {
		t.Fatalf("stages %q: want a build stage and gcr.io/distroless/static…:nonroot", froms)
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\d+)(:\d+)?\s*$`).FindStringSubmatch(df)
	if user == nil || user[1] == "0" {
		t.Errorf("USER %v: want a numeric non-root UID (Kubernetes' runAsNonRoot checks numbers)", user)
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["/hookguard"\]`).MatchString(df) {
		t.Error("ENTRYPOINT is not the exec form [\"/hookguard\"]: there is no shell to run anything else")
	}

	docker, copies := dockerfileBuild(t)
	ctx := t.TempDir()
	root := filepath.Join("..", "..")
	for _, c := range copies {
		src := filepath.Join(root, c)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			// Dockerfile.dockerignore leaves tests and test data out.
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			dst := filepath.Join(ctx, rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return os.WriteFile(dst, data, 0o644)
		})
		if err != nil {
			t.Fatalf("COPY %s: %v", c, err)
		}
	}
	args := append([]string{"build"}, docker.flags...)
	args = append(args, "-o", filepath.Join(t.TempDir(), "hookguard"), docker.pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build on its COPY'd files: %v\n%s", err, out)
	}
}
