// Package policy loads and compiles policy directories into an
// [authz.Policy].
//
// A policy directory is every *.yaml and *.yml file directly in it. Each file
// is YAML, converted to JSON and decoded with protojson into the schema of
// proto/hookguard/policy/v1, with unknown fields refused and enum values
// taken by name in upper or lower case, with - for _. Loading then validates
// every field, resolves every secret reference and builds every verifier,
// collecting all problems at once, each with its file, line, endpoint and
// field. Nothing is parsed again per request.
package policy

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// Result is a compiled policy set.
type Result struct {
	// Policy is the compiled snapshot, ready for authz.Authorizer.SetPolicy.
	Policy *authz.Policy
	// Files are the policy files read, in load order.
	Files []string
	// Revision identifies the set in logs, metrics and status: the commit
	// checked out when the directory is inside a Git working tree (a
	// clone, a worktree or a git-sync checkout), else Digest. See
	// [Revision].
	Revision string
	// Digest is a hash of the files' names and contents. Unlike a commit,
	// it changes with every edit, committed or not.
	Digest string
	// SecretFiles are the secret files the set references, as read, so a
	// watcher can reload when one changes.
	SecretFiles []string
	// DataFiles are the other files the set references: IP lists and JSON
	// Schemas, watched like secret files.
	DataFiles []string
	// Warnings are problems that do not refuse the set, such as an endpoint
	// without replay protection.
	Warnings []*Diagnostic

	// data is a hash of the data files' contents.
	data [sha256.Size]byte

	// secrets is a keyed hash of every secret value resolved. It never
	// leaves the process and its key is random per process, so it tells
	// a rotation apart from a reload of the same secrets and nothing else.
	secrets [sha256.Size]byte
}

// SameAs reports whether r and o hold the same policy text and the same
// secrets, so a reload that changed neither can be told from one that did.
func (r *Result) SameAs(o *Result) bool {
	return r != nil && o != nil && r.Digest == o.Digest && r.secrets == o.secrets && r.data == o.data
}

// Options tune Load.
type Options struct {
	// Secrets resolves secret references; nil means OS.
	Secrets SecretSource
	// Only, when set, compiles just the endpoint of that name (and the
	// defaults), for tools that need one endpoint's verifier, such as
	// `hookguard sign` for a generic hmac endpoint.
	Only string
	// NonceCapacity is the capacity of the replay store the policy will
	// run with (`hookguard serve --nonce-capacity`); 0 means
	// DefaultNonceCapacity. The endpoints' replay shares must fit in it:
	// explicit ones that add up to more are an error, and the rest is
	// split between the endpoints without one (see replayShares).
	NonceCapacity int
}

// DefaultNonceCapacity is the default capacity of the replay store, in
// deliveries: the default of `hookguard serve --nonce-capacity`.
const DefaultNonceCapacity = replay.DefaultCapacity

// maxLoadAttempts bounds how often Load starts over because the directory
// changed under it. Each swap of a mounted volume costs one attempt; more
// than a few in a row means something rewrites the directory constantly.
const maxLoadAttempts = 5

// Load reads, validates and compiles the policy directory dir. On any error
// it returns Errors listing every problem found, and no policy.
//
// The files are read as one consistent set even while the directory is
// being replaced, as Kubernetes volume mounts (the ..data symlink) and
// git-sync (a symlink to the checked-out commit) replace it: Load resolves
// every symlink, reads the files it resolved to, and starts over when any
// resolution changed meanwhile. It never mixes files of two versions.
func Load(dir string, opts Options) (*Result, error) {
	s, err := readConsistent(dir)
	if err != nil {
		return nil, err
	}
	return compileFiles(s, opts)
}

// Identify returns the revision and digest of the policy set in dir, as
// Load would report them, without compiling it: for a report on a set that
// does not load, which still names the version that was checked.
func Identify(dir string) (revision, digest string, err error) {
	s, err := readConsistent(dir)
	if err != nil {
		return "", "", err
	}
	digest = Digest(s.files, s.contents)
	return Revision(s.realDir, digest), digest, nil
}

// readConsistent reads the policy files of dir, starting over when the
// directory changed while they were read.
func readConsistent(dir string) (*snapshot, error) {
	var last error
	for range maxLoadAttempts {
		s, err := readSnapshot(dir)
		if err != nil {
			// Listing failed. The same failure twice in a row is the
			// directory's state, not a swap caught half way.
			if last != nil && last.Error() == err.Error() {
				return nil, err
			}
			last = err
			continue
		}
		err = s.read()
		if s.stable() {
			if err != nil {
				return nil, err
			}
			return s, nil
		}
		// A file vanished or a link moved while reading, most likely a
		// volume or checkout being swapped: read the new version.
		last = err
	}
	msg := fmt.Sprintf("the directory changed during each of %d attempts to read it", maxLoadAttempts)
	if last != nil {
		msg += "; last: " + last.Error()
	}
	return nil, Errors{{File: dir, Message: msg, Code: CodePolicy}}
}

// snapshot is one read of a policy directory.
type snapshot struct {
	dir      string   // as given
	realDir  string   // dir with every symlink resolved
	files    []string // dir/name, as diagnostics show them
	real     []string // each file with every symlink resolved, as read
	contents [][]byte
}

// readSnapshot lists dir and resolves every policy file's symlinks.
func readSnapshot(dir string) (*snapshot, error) {
	s := &snapshot{dir: dir}
	var err error
	s.realDir, s.files, s.real, err = resolveFiles(dir)
	return s, err
}

// read reads every policy file through its resolved path, so that a file
// swapped meanwhile fails to read instead of yielding the new version.
func (s *snapshot) read() error {
	s.contents = make([][]byte, len(s.real))
	for i, f := range s.real {
		var err error
		if s.contents[i], err = os.ReadFile(f); err != nil {
			return Errors{{File: s.files[i], Message: errorWithoutPath(err), Code: CodePolicy}}
		}
	}
	return nil
}

// stable reports whether dir still resolves to what s read.
func (s *snapshot) stable() bool {
	realDir, files, real, err := resolveFiles(s.dir)
	return err == nil && realDir == s.realDir && slices.Equal(files, s.files) && slices.Equal(real, s.real)
}

// resolveFiles lists the policy files of dir, sorted by name so that load
// order, and with it the order of equally specific endpoints, is stable,
// and resolves each through its symlinks.
func resolveFiles(dir string) (realDir string, files, real []string, err error) {
	realDir, err = filepath.EvalSymlinks(dir)
	if err != nil {
		return "", nil, nil, Errors{{File: dir, Message: errorWithoutPath(err), Code: CodePolicy}}
	}
	entries, err := os.ReadDir(realDir)
	if err != nil {
		return realDir, nil, nil, Errors{{File: dir, Message: errorWithoutPath(err), Code: CodePolicy}}
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml") {
			continue // hidden (git-sync, ..data, editors' swap files) or policy tests
		}
		if ext := filepath.Ext(name); ext != ".yaml" && ext != ".yml" {
			continue
		}
		r, err := filepath.EvalSymlinks(filepath.Join(realDir, name))
		if err != nil {
			continue // a dangling link: a file vanishing, or not a policy
		}
		if info, err := os.Stat(r); err != nil || info.IsDir() {
			continue
		}
		files = append(files, filepath.Join(dir, name))
		real = append(real, r)
	}
	if len(files) == 0 {
		return realDir, nil, nil, Errors{{File: dir, Message: "no *.yaml or *.yml policy files", Code: CodePolicy}}
	}
	return realDir, files, real, nil
}

func compileFiles(s *snapshot, opts Options) (*Result, error) {
	if opts.Secrets == nil {
		opts.Secrets = OS{}
	}
	rec := &recordingSecrets{src: opts.Secrets, sum: hmac.New(sha256.New, secretsKey[:])}
	c := &compiler{dir: s.dir, secrets: rec, seen: map[string]string{}, only: opts.Only}
	for i, f := range s.files {
		c.file(f, s.contents[i])
	}
	c.compileStages()
	capacity := opts.NonceCapacity
	if capacity <= 0 {
		capacity = DefaultNonceCapacity
	}
	c.replayShares(capacity)
	c.fillLines(c.errs)
	fillCodes(c.errs)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	digest := Digest(s.files, s.contents)
	rev := Revision(s.realDir, digest)
	p, err := authz.NewPolicy(rev, c.endpoints)
	if err != nil {
		// compile already checked what NewPolicy checks; this is a bug.
		return nil, Errors{{File: s.dir, Message: err.Error(), Code: CodePolicy}}
	}
	// In the policy's matching order, which decides what a request that
	// misses one endpoint falls to.
	c.warnOverlaps(p.Endpoints())
	c.fillLines(c.warnings)
	fillCodes(c.warnings)
	res := &Result{Policy: p, Files: s.files, Revision: rev, Digest: digest,
		SecretFiles: rec.files, DataFiles: c.data.files, Warnings: c.warnings}
	copy(res.secrets[:], rec.sum.Sum(nil))
	res.data = c.data.digest()
	return res, nil
}

// Digest hashes the files' base names and contents: the revision of a set
// outside Git.
func Digest(files []string, contents [][]byte) string {
	h := sha256.New()
	for i, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(contents[i]))
		h.Write(contents[i])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// secretsKey keys the hash of secret values in a Result, so the hash is no
// use to anyone outside this process.
var secretsKey = func() (k [32]byte) {
	rand.Read(k[:])
	return k
}()

// recordingSecrets is a SecretSource that remembers which files it read and
// hashes every value it returned.
type recordingSecrets struct {
	src   SecretSource
	files []string
	sum   hash.Hash
}

func (r *recordingSecrets) LookupEnv(name string) (string, bool) {
	v, ok := r.src.LookupEnv(name)
	fmt.Fprintf(r.sum, "env\x00%s\x00%d\x00", name, len(v))
	r.sum.Write([]byte(v))
	return v, ok
}

func (r *recordingSecrets) ReadFile(path string) ([]byte, error) {
	if !slices.Contains(r.files, path) {
		r.files = append(r.files, path)
	}
	b, err := r.src.ReadFile(path)
	fmt.Fprintf(r.sum, "file\x00%s\x00%d\x00", path, len(b))
	r.sum.Write(b)
	return b, err
}

// compiler accumulates endpoints and diagnostics over the files of a set.
type compiler struct {
	dir       string
	secrets   SecretSource
	seen      map[string]string // endpoint name → file defining it
	endpoints []*authz.Endpoint
	errs      Errors
	warnings  []*Diagnostic
	defaults  *defaults         // the directory's defaults block, if any
	pending   []pendingStages   // endpoints whose stages wait for defaults
	only      string            // Options.Only
	data      dataFiles         // IP lists and schemas read
	lines     *lines            // of the file being compiled
	fileLines map[string]*lines // of every file, by name
}

// file decodes one policy file and compiles its endpoints.
func (c *compiler) file(name string, data []byte) {
	c.lines = newLines(data)
	if c.fileLines == nil {
		c.fileLines = map[string]*lines{}
	}
	c.fileLines[name] = c.lines
	// Strict: a key given twice (a bad merge, say) is an error, not the
	// last one silently winning.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		c.errs = append(c.errs, yamlSyntaxError(name, data, err))
		return
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		c.warnings = append(c.warnings, &Diagnostic{File: name, Message: "file is empty"})
		return
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js, &doc); err != nil {
		c.errs = append(c.errs, &Diagnostic{File: name, Message: "a policy file is a mapping with an endpoints list"})
		return
	}
	fileDesc := (&policyv1.PolicyFile{}).ProtoReflect().Descriptor()
	for _, key := range sortedKeys(doc) {
		if fieldByName(fileDesc, key) == nil {
			c.errs = append(c.errs, &Diagnostic{File: name, Line: c.lines.file(key), Field: key, Message: unknownField(fileDesc, key)})
		}
	}
	if d, ok := doc["defaults"]; ok {
		c.defaultsBlock(name, d)
	}
	var raw []json.RawMessage
	if eps, ok := doc["endpoints"]; ok {
		if err := json.Unmarshal(eps, &raw); err != nil {
			c.errs = append(c.errs, &Diagnostic{File: name, Line: c.lines.file("endpoints"), Field: "endpoints", Message: "must be a list"})
			return
		}
	}
	if len(raw) == 0 {
		c.warnings = append(c.warnings, &Diagnostic{File: name, Message: "file defines no endpoints"})
	}
	for i, r := range raw {
		if c.only != "" && endpointLabel(r, i) != c.only {
			continue
		}
		c.endpoint(name, i, r)
	}
}

// fillLines gives a line to each diagnostic reported without one, such as
// those of checks that run once every file is read.
func (c *compiler) fillLines(diags []*Diagnostic) {
	for _, d := range diags {
		x := c.fileLines[d.File]
		if d.Line > 0 || x == nil {
			continue
		}
		if d.Endpoint == "" {
			d.Line = x.file(d.Field)
		} else {
			d.Line = x.endpoint(x.endpointIndex(d.Endpoint), d.Field)
		}
	}
}

// endpoint decodes and compiles the i-th endpoint of a file.
func (c *compiler) endpoint(file string, i int, raw json.RawMessage) {
	label := endpointLabel(raw, i)
	reportCode := func(code Code, field, msg string) {
		c.errs = append(c.errs, &Diagnostic{File: file, Line: c.lines.endpoint(i, field), Endpoint: label, Field: field, Message: msg, Code: code})
	}
	report := func(field, msg string) { reportCode(CodePolicy, field, msg) }
	before := len(c.errs)
	// With unknown fields and enum values reported, decode the rest
	// anyway, so one run lists every problem of the endpoint, not just
	// its typos.
	var ep policyv1.Endpoint
	if err := decodeChecked(raw, &ep, report); err != nil {
		if len(c.errs) == before {
			report("", protojsonMessage(err))
		}
		return
	}
	shapeErrs := len(c.errs) > before
	warn := func(field, msg string) {
		c.warnings = append(c.warnings, &Diagnostic{File: file, Line: c.lines.endpoint(i, field), Endpoint: label, Field: field, Message: msg})
	}
	e, ok := c.compileEndpoint(file, &ep, reportCode, warn)
	c.pending = append(c.pending, pendingStages{file: file, label: label, proto: &ep, endpoint: e})
	if ok && !shapeErrs {
		c.endpoints = append(c.endpoints, e)
	}
}

// decodeChecked checks raw with checkFields and decodes the tree it returns
// into m: enum values spelled as protojson expects them, and what
// checkFields reported and dropped not refused a second time. An error
// means m was not decoded; it adds nothing when checkFields reported
// something, as protojson then refuses a value checkFields already named.
func decodeChecked(raw []byte, m proto.Message, report func(field, msg string)) error {
	// Numbers stay as written, so they encode back unchanged (a float64
	// would round a large uint64).
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var tree any
	if err := d.Decode(&tree); err != nil {
		return err
	}
	clean, err := json.Marshal(checkFields(m.ProtoReflect().Descriptor(), tree, "", report))
	if err != nil {
		return err
	}
	return protojson.Unmarshal(clean, m)
}

// endpointLabel names an endpoint in diagnostics: its name when it has a
// usable one, else its position.
func endpointLabel(raw json.RawMessage, i int) string {
	var named struct {
		Name any `json:"name"`
	}
	if json.Unmarshal(raw, &named) == nil {
		if s, ok := named.Name.(string); ok && s != "" {
			return s
		}
	}
	return fmt.Sprintf("endpoints[%d]", i)
}

// protojsonNoise is protojson's prefix and the JSON position it puts in its
// errors; the position points into the converted JSON, not the YAML the user
// wrote, so it goes. protojson separates them with a space or, at random, a
// no-break space, so that nobody matches its messages exactly.
var protojsonNoise = regexp.MustCompile(`^proto:[\s\x{a0}]*(\(line \d+:\d+\):[\s\x{a0}]*)?|[\s\x{a0}]*\(line \d+:\d+\)`)

// protojsonMessage is the text of a protojson error. checkFields catches
// unknown fields and wrong shapes first, with their paths; this is for what
// remains, such as a number out of range.
func protojsonMessage(err error) string {
	return protojsonNoise.ReplaceAllString(err.Error(), "")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
