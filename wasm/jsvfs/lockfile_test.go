package jsvfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/store"
)

// osLocker is osDir with the lock file's needs: a stand-in for Node's fs,
// with a fixed process identity and a table of live processes.
type osLocker struct {
	osDir
	pid   int
	token string
	alive map[int]bool
	// running are the tokens of this process's other engines.
	running map[string]bool
	// deleteFails, if set, fails each Delete of a file it names (a
	// directory made read-only, a scanner holding the file on Windows).
	deleteFails func(name string) bool
	// step, if set, runs before each call on the file system, with the
	// call's name and file: other processes acting between them.
	step func(op, name string)
}

func (d *osLocker) at(op, name string) {
	if d.step != nil {
		d.step(op, name)
	}
}

func (d *osLocker) Delete(name string) error {
	d.at("Delete", name)
	if d.deleteFails != nil && d.deleteFails(name) {
		return fs.ErrPermission
	}
	return d.osDir.Delete(name)
}

func (d *osLocker) path(name string) string { return filepath.Join(d.root, name) }

func (d *osLocker) WriteFile(name string, b []byte) error {
	d.at("WriteFile", name)
	return os.WriteFile(d.path(name), b, 0o644)
}

func (d *osLocker) Link(from, to string) error {
	d.at("Link", to)
	err := os.Link(d.path(from), d.path(to))
	if errors.Is(err, fs.ErrExist) {
		return ErrExist
	}
	return err
}

func (d *osLocker) ReadFile(name string) ([]byte, error) {
	d.at("ReadFile", name)
	b, err := os.ReadFile(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

func (d *osLocker) Rename(from, to string) error {
	d.at("Rename", from)
	err := os.Rename(d.path(from), d.path(to))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

func (d *osLocker) Process() (int, string) { return d.pid, d.token }
func (d *osLocker) Alive(pid int) bool     { return pid == d.pid || d.alive[pid] }
func (d *osLocker) Running(token string) bool {
	return token == d.token || d.running[token]
}

// openLocked opens a store named todos through a Locker registered as vfs.
func openLocked(t *testing.T, vfs string) (*store.Store, error) {
	t.Helper()
	return store.Open(context.Background(), store.Options{Path: "todos", VFS: vfs})
}

func newLocker(t *testing.T, name string) *osLocker {
	l := &osLocker{osDir: osDir{t.TempDir()}, pid: 100, token: "a1", alive: map[int]bool{}, running: map[string]bool{}}
	Register(name, l)
	return l
}

func wantLocked(t *testing.T, err error, says string) {
	t.Helper()
	if store.Code(err) != store.CodeLocked || !strings.Contains(err.Error(), says) {
		t.Fatalf("open: %v (code %s); want LOCKED saying %q", err, store.Code(err), says)
	}
}

func TestLockSecondOpenInProcess(t *testing.T) {
	l := newLocker(t, "lock-twice")
	s, err := openLocked(t, "lock-twice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = openLocked(t, "lock-twice")
	wantLocked(t, err, "this process")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.path("todos-lock")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lock file outlives Close: %v", err)
	}
	s, err = openLocked(t, "lock-twice") // free again
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	left, _ := filepath.Glob(l.path("*lock*"))
	if len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	l := newLocker(t, "lock-other")
	l.alive[4242] = true
	l.WriteFile("todos-lock", []byte("4242 zz\n"))
	_, err := openLocked(t, "lock-other")
	wantLocked(t, err, "process 4242")
	if b, _ := l.ReadFile("todos-lock"); string(b) != "4242 zz\n" {
		t.Fatalf("the live lock was changed: %q", b)
	}
}

// TestLockHeldByAnotherEngine: another copy of factlog in this process
// holds it.
func TestLockHeldByAnotherEngine(t *testing.T) {
	l := newLocker(t, "lock-engine")
	l.running["b2"] = true
	l.WriteFile("todos-lock", []byte("100 b2\n"))
	_, err := openLocked(t, "lock-engine")
	wantLocked(t, err, "another copy of factlog in this process")
}

// TestLockStale: the holder is gone (killed with -9), or was an earlier
// process with this pid or an engine of this process that stopped, or
// left a file that is not a lock: taken over.
func TestLockStale(t *testing.T) {
	for _, held := range []string{"31337 dead\n", "100 earlier\n", "", "garbage", "-5 x\n"} {
		l := newLocker(t, "lock-stale")
		l.WriteFile("todos-lock", []byte(held))
		s, err := openLocked(t, "lock-stale")
		if err != nil {
			t.Fatalf("stale lock %q: %v", held, err)
		}
		if b, _ := l.ReadFile("todos-lock"); string(b) != "100 a1\n" {
			t.Fatalf("stale lock %q: now %q", held, b)
		}
		s.Close()
	}
}

// TestLockTakeOverRace: between reading a stale lock and removing it,
// another process took it over; its fresh lock is kept, and this open is
// refused.
func TestLockTakeOverRace(t *testing.T) {
	l := newLocker(t, "lock-race")
	l.WriteFile("todos-lock", []byte("31337 dead\n"))
	l.alive[7] = true
	readStale := false
	l.step = func(op, name string) {
		switch {
		case readStale:
			l.step = nil
			os.Remove(l.path("todos-lock"))
			os.WriteFile(l.path("todos-lock"), []byte("7 fresh\n"), 0o644)
		case op == "ReadFile" && name == "todos-lock":
			readStale = true
		}
	}
	_, err := openLocked(t, "lock-race")
	wantLocked(t, err, "process 7")
	if b, _ := l.ReadFile("todos-lock"); string(b) != "7 fresh\n" {
		t.Fatalf("the fresh lock was lost: %q", b)
	}
}

// TestLockNotRemovedAtClose: the lock file could not be deleted when the
// store closed (its directory was made read-only meanwhile, a scanner held
// it). The store is not open, in this engine or any other, so opening it
// again — here, or from another process — must not be refused: it was
// LOCKED, "open in this process", until the process ended.
func TestLockNotRemovedAtClose(t *testing.T) {
	l := newLocker(t, "lock-undeletable")
	s, err := openLocked(t, "lock-undeletable")
	if err != nil {
		t.Fatal(err)
	}
	l.deleteFails = func(name string) bool { return name == "todos-lock" }
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l.deleteFails = nil
	s, err = openLocked(t, "lock-undeletable")
	if err != nil {
		t.Fatalf("reopened in the same process after its lock file could not be deleted: %v", err)
	}
	l.deleteFails = func(name string) bool { return name == "todos-lock" }
	s.Close()
	l.deleteFails = nil

	// Another process (this one still alive) takes it over too.
	other := &osLocker{osDir: l.osDir, pid: 200, token: "c3", alive: map[int]bool{100: true}, running: map[string]bool{}}
	Register("lock-undeletable-other", other)
	s, err = openLocked(t, "lock-undeletable-other")
	if err != nil {
		t.Fatalf("another process opened a store whose lock file could not be deleted at close: %v", err)
	}
	s.Close()
}

// TestLockTakeOverThreeWay: three processes at a stale lock. Once this
// one has read it stale, process 7 takes it over first (its lock is
// fresh, and it opens the store), and process 8 takes the lock file
// whenever it finds none. The fresh lock must never be moved or deleted:
// moving it aside to look at it, as takeovers did, let process 8 in
// while 7 had the store open — two writers of one file.
func TestLockTakeOverThreeWay(t *testing.T) {
	l := newLocker(t, "lock-three")
	l.WriteFile("todos-lock", []byte("31337 dead\n"))
	l.alive[7], l.alive[8] = true, true
	readStale, fresh := false, false
	l.step = func(op, name string) {
		switch {
		case fresh: // process 8
			if _, err := os.Stat(l.path("todos-lock")); errors.Is(err, fs.ErrNotExist) {
				os.WriteFile(l.path("todos-lock"), []byte("8 late\n"), 0o644)
			}
		case readStale: // process 7
			os.Remove(l.path("todos-lock"))
			os.WriteFile(l.path("todos-lock"), []byte("7 fresh\n"), 0o644)
			fresh = true
		case op == "ReadFile" && name == "todos-lock":
			readStale = true
		}
	}
	_, err := openLocked(t, "lock-three")
	wantLocked(t, err, "process 7")
	if b, _ := os.ReadFile(l.path("todos-lock")); string(b) != "7 fresh\n" {
		t.Fatalf("the lock of process 7, which has the store open, is now %q", b)
	}
}

// TestLockTakeOverTurnStale: a process died while it held the takeover
// turn of a stale lock; the turn is stale too, and the lock is taken over.
// One a live process holds is waited for, and never removed.
func TestLockTakeOverTurnStale(t *testing.T) {
	l := newLocker(t, "lock-turn")
	l.WriteFile("todos-lock", []byte("31337 dead\n"))
	turn := beside("todos-lock", 0, "", "takeover")
	l.WriteFile(turn, []byte("31338 dead\n"))
	s, err := openLocked(t, "lock-turn")
	if err != nil {
		t.Fatalf("a stale lock with a stale takeover turn: %v", err)
	}
	s.Close()
	left, _ := filepath.Glob(l.path("*"))
	for _, f := range left {
		if strings.Contains(f, "factlog") || strings.HasSuffix(f, "-lock") {
			t.Errorf("left behind: %s", filepath.Base(f))
		}
	}

	l.WriteFile("todos-lock", []byte("31337 dead\n"))
	l.alive[9] = true
	l.WriteFile(turn, []byte("9 taking\n"))
	_, err = openLocked(t, "lock-turn")
	wantLocked(t, err, "other processes keep taking")
	if b, _ := l.ReadFile(turn); string(b) != "9 taking\n" {
		t.Fatalf("the live takeover turn is now %q", b)
	}
	if b, _ := l.ReadFile("todos-lock"); string(b) != "31337 dead\n" {
		t.Fatalf("the lock was changed while another process held its turn: %q", b)
	}
}

// TestLockFromBeforeRestart: a lock written before the machine restarted
// (its token names another boot) is stale even though a process with its
// pid runs now: pids are handed out again after a restart, and the store
// was LOCKED, naming an unrelated process, for as long as that one ran.
// A lock of this boot, or of a factlog that does not say its boot, is
// held while its process runs.
func TestLockFromBeforeRestart(t *testing.T) {
	for _, c := range []struct {
		held   string
		locked bool
	}{
		{"4242 zz.0ther0b00t\n", false},
		{"4242 zz.b00tb00tb00t\n", true},
		{"4242 zz\n", true},
	} {
		l := newLocker(t, "lock-boot")
		l.token = "a1.b00tb00tb00t"
		l.alive[4242] = true
		l.WriteFile("todos-lock", []byte(c.held))
		s, err := openLocked(t, "lock-boot")
		if c.locked {
			wantLocked(t, err, "process 4242")
			continue
		}
		if err != nil {
			t.Fatalf("a lock of another boot, %q: %v", c.held, err)
		}
		s.Close()
	}
}
