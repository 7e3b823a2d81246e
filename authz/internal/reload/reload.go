// Package reload keeps a running policy in step with a policy directory.
//
// A [Reloader] loads the directory with [policy.Load], hands each set that
// compiles to a [Setter] (an authz.Authorizer), and keeps the last set that
// compiled when a later one does not: a broken change never replaces a
// working policy. It reloads when the directory or a secret file the policy
// reads changes, and when asked to with [Reloader.Trigger] (hookguard's
// SIGHUP).
//
// Loading happens on the Reloader's own goroutine, never on the request
// path: requests keep deciding on the old snapshot while the new one
// compiles, and the swap is a single atomic store, so a request in flight
// finishes on the snapshot it started with and never sees half of a set.
//
// # What is watched
//
// The Reloader watches directories, not files, because the ways policy
// directories are published all replace files rather than write them:
//
//   - A Kubernetes ConfigMap or Secret volume holds a "..data" symlink to a
//     hidden timestamped directory; an update writes a new directory and
//     renames a new "..data" link over the old one. The files users see are
//     links through "..data".
//   - git-sync checks each commit out into a directory of its own and swaps
//     a symlink (its --link) to point at it.
//   - Editors write a temporary file and rename it over the original, or
//     delete and recreate it.
//
// So the Reloader watches the policy directory itself, the directory of every
// symlink met on the way to it, to each policy file and to each secret file,
// and the directory holding each file the links resolve to. It re-resolves
// all of them after every load, so a swap moves the watches along with it.
// A path that does not exist yet is watched through its nearest existing
// ancestor, so a directory or secret file that appears later is noticed.
//
// # Debounce
//
// A change is rarely a single event: a volume swap or a git checkout is a
// burst of creates, renames and removes. The Reloader waits until no
// relevant event has arrived for [Config.Debounce] (200 ms by default)
// before it loads, but never longer than [Config.MaxDelay] after the first
// event of a burst, so a directory that changes constantly is still
// reloaded. A load that finds the same policy text and secrets as the
// running set changes nothing but the status's attempt time.
//
// [Reloader.Trigger] skips the debounce: a signal is one deliberate request.
package reload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
)

// DefaultDebounce is the quiet time awaited after a change before loading.
const DefaultDebounce = 200 * time.Millisecond

// DefaultMaxDelay bounds how long a stream of changes postpones a load.
const DefaultMaxDelay = 2 * time.Second

// The triggers an [Event] names.
const (
	// TriggerStart is the first load, before serving.
	TriggerStart = "start"
	// TriggerWatch is a load after files changed on disk.
	TriggerWatch = "watch"
	// TriggerSignal is a load asked for with Trigger (SIGHUP).
	TriggerSignal = "signal"
	// TriggerRecheck is the load Run makes once its watches are set up, to
	// catch a change made between the first load and the watch, and again
	// after any load that made it watch files it did not watch before. It
	// usually finds the same set, and is then no reload.
	TriggerRecheck = "recheck"
)

// Triggers lists every trigger, so that metrics can show each from the
// start.
func Triggers() []string { return []string{TriggerStart, TriggerWatch, TriggerSignal, TriggerRecheck} }

// A Setter receives every policy that compiles. *authz.Authorizer is one.
type Setter interface {
	SetPolicy(*authz.Policy)
}

// Config tunes a Reloader. The zero value is valid: every zero field has the
// documented default.
type Config struct {
	// Secrets resolves the policy's secret references; nil means the
	// process environment and file system (policy.OS).
	Secrets policy.SecretSource
	// NonceCapacity is the capacity of the replay store, which the
	// endpoints' replay shares must fit in (policy.Options.NonceCapacity);
	// 0 means policy.DefaultNonceCapacity.
	NonceCapacity int
	// Debounce is how long the watched paths must be quiet after a change
	// before the Reloader loads; 0 means DefaultDebounce.
	Debounce time.Duration
	// MaxDelay is the longest a burst of changes postpones a load; 0 means
	// DefaultMaxDelay.
	MaxDelay time.Duration
	// Manual turns the file watch off: Run then reloads only on Trigger.
	// For file systems without change notification.
	Manual bool
	// WatchError, if set, receives what goes wrong with the file watch:
	// a directory that cannot be watched (such as at the inotify watch
	// limit) or lost events. Lost events cause a load, to be safe.
	WatchError func(error)
	// Notify, if set, is called after every load attempt, from the
	// goroutine that loaded, after the Setter got the new policy and the
	// status was updated. It must not block for long: the next load waits.
	Notify func(Event)
	// Clock tells the time for Status and Event; nil means the system
	// clock. The debounce always runs on real time.
	Clock authz.Clock
}

// Event reports one load attempt.
type Event struct {
	// Trigger is TriggerStart, TriggerWatch, TriggerSignal or
	// TriggerRecheck.
	Trigger string
	// Result is the set loaded, nil when the load failed.
	Result *policy.Result
	// Changed is true when Result differs from the set it replaced in its
	// policy text or its secrets; always true for the first set.
	Changed bool
	// Restored is true when the load succeeded and the one before it was
	// refused while a set was in force: the policy is good again, even if
	// it is the very set that stayed in force.
	Restored bool
	// Err is why the load failed, nil when it did not; the running set,
	// if any, stays in force.
	Err *Failure
	// Repeated is true when the load failed with the same errors as the
	// load before it: a re-check found the refused set still there, which
	// is no new refusal to count or to alert on.
	Repeated bool
	// Duration is the time the load took, compiling included.
	Duration time.Duration
	// At is when the load finished.
	At time.Time
}

// Status is the state of a Reloader, for health endpoints and metrics. It is
// a copy: changing it changes nothing.
type Status struct {
	// Revision, Digest, Files, SecretFiles, DataFiles and Endpoints describe the set
	// in force; they are empty before the first successful load.
	Revision    string   `json:"revision"`
	Digest      string   `json:"digest"`
	Files       []string `json:"files"`
	SecretFiles []string `json:"secret_files,omitempty"`
	DataFiles   []string `json:"data_files,omitempty"`
	Endpoints   int      `json:"endpoints"`
	// LoadedAt is when the set in force was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// Warnings are the set's warnings.
	Warnings []*policy.Diagnostic `json:"warnings,omitempty"`
	// LastAttemptAt is when the last load, successful or not, finished.
	LastAttemptAt time.Time `json:"last_attempt_at"`
	// Loads and Failures count load attempts that succeeded and failed.
	Loads    uint64 `json:"loads"`
	Failures uint64 `json:"failures"`
	// LastFailure describes the last load if it failed; nil once a later
	// load succeeds.
	LastFailure *Failure `json:"last_failure,omitempty"`
}

// Failure describes a refused policy set. It is the one shape of a refusal:
// the error Load returns and Event carries, and the status's LastFailure,
// whether the set was refused at start or on a reload.
type Failure struct {
	// At is when the load failed.
	At time.Time `json:"at"`
	// Trigger is what started the load.
	Trigger string `json:"trigger"`
	// Errors lists every problem found, with file, line, endpoint and
	// field. A failure that is no policy.Errors (which policy.Load does
	// not return today) appears as one Diagnostic naming the directory.
	Errors []*policy.Diagnostic `json:"errors"`

	err error // what policy.Load returned
}

// Error summarises the failure on one line: the first problem, and how many
// more there are. Errors has them all.
func (f *Failure) Error() string {
	if len(f.Errors) == 0 {
		return "policy refused"
	}
	msg := f.Errors[0].Error()
	if n := len(f.Errors) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Unwrap returns what policy.Load returned, usually a policy.Errors.
func (f *Failure) Unwrap() error { return f.err }

// Reloader loads a policy directory into a Setter and keeps it current. Its
// methods are safe for concurrent use.
type Reloader struct {
	dir    string
	setter Setter
	cfg    Config

	trigger chan string

	loadMu  sync.Mutex // one load at a time
	current *policy.Result
	files   []string // every secret file the last load read, even if it failed

	mu     sync.Mutex
	status Status

	// afterLoad, when set (by tests), runs between a load and the update
	// of the watches, where a change to a newly referenced file is
	// otherwise unseen.
	afterLoad func()
}

// New returns a Reloader for the policy directory dir that hands every set
// that compiles to s, which must not be nil, configured by c. Nothing is
// loaded until Load or Run.
func New(dir string, s Setter, c Config) *Reloader {
	if c.Secrets == nil {
		c.Secrets = policy.OS{}
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.MaxDelay < c.Debounce {
		c.MaxDelay = c.Debounce
	}
	if c.Clock == nil {
		c.Clock = authz.SystemClock{}
	}
	return &Reloader{dir: dir, setter: s, cfg: c, trigger: make(chan string, 1)}
}

// Load loads the directory now and, if it compiles, hands it to the Setter.
// On failure the running set stays, and the refusal is returned as a
// *Failure and recorded in the status. trigger names the cause in the
// Event and the status (TriggerStart for the first load).
func (r *Reloader) Load(trigger string) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()

	start := r.cfg.Clock.Now()
	rec := &recorder{src: r.cfg.Secrets}
	res, err := policy.Load(r.dir, policy.Options{Secrets: rec, NonceCapacity: r.cfg.NonceCapacity})
	r.files = rec.files
	end := r.cfg.Clock.Now()
	ev := Event{Trigger: trigger, Result: res, Duration: end.Sub(start), At: end}

	r.mu.Lock()
	r.status.LastAttemptAt = end
	if err != nil {
		f := &Failure{At: end, Trigger: trigger, Errors: diagnostics(r.dir, err), err: err}
		ev.Err = f
		ev.Repeated = r.status.LastFailure != nil && sameErrors(r.status.LastFailure.Errors, f.Errors)
		r.status.Failures++
		r.status.LastFailure = f
		r.mu.Unlock()
	} else {
		ev.Changed = !res.SameAs(r.current)
		ev.Restored = r.status.LastFailure != nil && r.current != nil
		r.current = res
		// Swap before publishing the status, so nothing reports a revision
		// that requests are not yet decided on.
		r.setter.SetPolicy(res.Policy)
		r.status.Loads++
		r.status.LastFailure = nil
		if ev.Changed || r.status.Revision != res.Revision {
			r.status.LoadedAt = end
		}
		r.status.Revision, r.status.Digest = res.Revision, res.Digest
		r.status.Files, r.status.SecretFiles, r.status.DataFiles = res.Files, res.SecretFiles, res.DataFiles
		r.status.Endpoints = len(res.Policy.Endpoints())
		r.status.Warnings = res.Warnings
		r.mu.Unlock()
	}
	if r.cfg.Notify != nil {
		r.cfg.Notify(ev)
	}
	if ev.Err != nil {
		return ev.Err
	}
	return nil
}

// sameErrors reports whether two refusals list the same problems.
func sameErrors(a, b []*policy.Diagnostic) bool {
	return slices.EqualFunc(a, b, func(x, y *policy.Diagnostic) bool { return *x == *y })
}

// diagnostics turns a load error into the diagnostics it holds.
func diagnostics(dir string, err error) []*policy.Diagnostic {
	var errs policy.Errors
	if errors.As(err, &errs) {
		return errs
	}
	return []*policy.Diagnostic{{File: dir, Message: err.Error()}}
}

// Trigger asks Run to load as soon as it can, without waiting for the
// debounce. Triggers that arrive while one is pending are merged into it.
// It never blocks.
func (r *Reloader) Trigger() {
	select {
	case r.trigger <- TriggerSignal:
	default:
	}
}

// Status returns the current status.
func (r *Reloader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	if s.LastFailure != nil {
		f := *s.LastFailure
		s.LastFailure = &f
	}
	return s
}

// Run watches the policy directory and the secret files of the policy and
// reloads on change and on Trigger until ctx is done. It does not load
// first: call Load(TriggerStart) before, so that a service can refuse to
// start on an invalid set. Once its watches are set up it loads once more,
// after the debounce, to catch a change made while they were not
// (TriggerRecheck). Run returns ctx's error when ctx is done, or an error at
// once when the file watch cannot be set up.
func (r *Reloader) Run(ctx context.Context) error {
	if r.cfg.Manual {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case t := <-r.trigger:
				r.Load(t)
			}
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	ws := newWatchSet(w, r.cfg.WatchError)
	ws.update(r.watchTargets())

	var (
		timer   = time.NewTimer(time.Hour)
		pending bool
		first   time.Time // first event of the pending burst
		next    string    // the trigger of the pending load
	)
	timer.Stop()
	defer timer.Stop()
	schedule := func() {
		now := time.Now()
		next = TriggerWatch
		if !pending {
			pending, first = true, now
		}
		wait := min(r.cfg.Debounce, first.Add(r.cfg.MaxDelay).Sub(now))
		timer.Reset(max(wait, 0))
	}
	// A change between the first Load and the watches being set up went
	// unseen: load once more to catch it. An unchanged set costs one
	// compile and swaps in an equal policy. A change seen before this load
	// makes it a watch load.
	schedule()
	next = TriggerRecheck
	load := func(trigger string) {
		pending = false
		timer.Stop()
		r.Load(trigger)
		if r.afterLoad != nil {
			r.afterLoad()
		}
		if ws.update(r.watchTargets()) && !pending {
			// The set just loaded reads files that were not watched
			// while it loaded (a new secret file, IP list or schema,
			// or the new target of a swapped symlink): a change to one
			// in between went unseen, so check once more, as at start.
			schedule()
			next = TriggerRecheck
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("reload: file watch closed")
			}
			if ev.Op != fsnotify.Chmod && ws.relevant(ev.Name) {
				schedule()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("reload: file watch closed")
			}
			// Events may have been lost (a queue overflow): a load costs
			// little and finds out whether anything changed.
			if r.cfg.WatchError != nil {
				r.cfg.WatchError(err)
			}
			schedule()
		case t := <-r.trigger:
			load(t)
		case <-timer.C:
			load(next)
		}
	}
}

// watchTargets lists the paths whose change can change the policy: the
// directory, the files of the set in force and every secret file the last
// load read.
func (r *Reloader) watchTargets() (dir string, files []string) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if r.current != nil {
		files = append(files, r.current.Files...)
		files = append(files, r.current.DataFiles...)
	}
	return r.dir, append(files, r.files...)
}

// recorder is a SecretSource that notes every file read through it, whether
// the read succeeded or not, so a secret file that is missing now is watched
// for and picked up when it appears.
type recorder struct {
	src   policy.SecretSource
	files []string
}

func (r *recorder) LookupEnv(name string) (string, bool) { return r.src.LookupEnv(name) }

func (r *recorder) ReadFile(path string) ([]byte, error) {
	r.files = append(r.files, path)
	return r.src.ReadFile(path)
}
