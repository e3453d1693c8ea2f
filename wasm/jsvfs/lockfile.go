package jsvfs

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/factlog/factlog/wasm/internal/db"
)

// Locker is a Dir whose files other processes can open too (Node's file
// system; OPFS is guarded by Web Locks and its exclusive handles instead).
// The VFS keeps a lock file beside each database it opens there, since
// such hosts have no file locks: "<db>-lock", holding "<pid> <token>" of
// the process that has the database open.
//
// A lock whose process no longer exists is stale and is taken over, so a
// store is never wedged by a process killed with -9; so is one written
// before the machine restarted, where the token says so (Linux), since
// its pid may be another process's now. The token names the
// engine (the Go program) that holds it: it tells this process from an
// earlier one that had the same pid (a restarted container), a second
// open by this engine or another copy of factlog in this process from a
// lock left by an engine of this process that stopped (its Go program
// ended: out of memory), which is stale too.
type Locker interface {
	Dir
	// WriteFile creates or replaces a small file.
	WriteFile(name string, content []byte) error
	// Link makes a hard link, failing with ErrExist if to exists: the
	// atomic step that makes a lock file appear with its content.
	Link(from, to string) error
	// ReadFile reads a small file (ErrNotFound if it is missing).
	ReadFile(name string) ([]byte, error)
	// Rename moves a file (ErrNotFound if from is missing).
	Rename(from, to string) error
	// Process returns this process's id and a token unique to this
	// engine. A token may end in ".<boot>", naming the machine's boot
	// (see bootOf).
	Process() (pid int, token string)
	// Running reports whether an engine of this process with the token
	// still runs.
	Running(token string) bool
	// Alive reports whether a process with the id exists.
	Alive(pid int) bool
}

// ErrExist is returned by Locker.Link when the target exists.
var ErrExist = errors.New("file exists")

// ErrLocked rejects opening a database that another process (or another
// open in this one) holds.
var ErrLocked = db.ErrLocked

// held are the lock files this engine holds, by Locker: a lock file with
// this engine's pid and token that is not among them was left by a store
// of this engine that closed but could not delete it, and is stale. The
// mutex also makes taking a lock and recording it one step, so that a
// second open in this engine never finds the first's lock unrecorded.
var held struct {
	sync.Mutex
	locks map[heldLock]bool
}

type heldLock struct {
	l    Locker
	lock string
}

// lockDB takes the lock file of the database name, returning the function
// that releases it.
func lockDB(l Locker, name string) (unlock func(), err error) {
	lock := name + "-lock"
	pid, token := l.Process()
	held.Lock()
	defer held.Unlock()
	mine := fmt.Sprintf("%d %s\n", pid, token)
	tmp := beside(lock, pid, token, "new")
	if err := l.WriteFile(tmp, []byte(mine)); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	defer l.Delete(tmp)
	for range 5 { // a few rounds of racing with other processes
		err := l.Link(tmp, lock)
		if err == nil {
			if held.locks == nil {
				held.locks = map[heldLock]bool{}
			}
			held.locks[heldLock{l, lock}] = true
			return func() { unlockDB(l, lock, mine) }, nil
		}
		if !errors.Is(err, ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		content, err := l.ReadFile(lock)
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if owner, ok := liveOwner(l, lock, string(content), pid, token); ok {
			return nil, fmt.Errorf("%w: %s is open in %s (its lock file is %s; delete it only if no process uses the store)", ErrLocked, name, owner, lock)
		}
		if err := takeOver(l, lock, string(content), tmp, pid, token); err != nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("%w: %s: other processes keep taking its lock file %s", ErrLocked, name, lock)
}

// liveOwner reports who holds the lock with the content, if that holder
// is alive: this process (a second open), or another process. The
// caller holds held's mutex.
func liveOwner(l Locker, lock, content string, pid int, token string) (string, bool) {
	fields := strings.Fields(content)
	if len(fields) != 2 {
		return "", false // not a lock factlog wrote
	}
	owner, err := strconv.Atoi(fields[0])
	switch {
	case err != nil || owner <= 0:
		return "", false
	case owner == pid && fields[1] == token && held.locks[heldLock{l, lock}]:
		return "this process (close the other handle first)", true
	case owner == pid && fields[1] == token:
		return "", false // a store of this engine that closed and could not delete its lock
	case owner == pid && l.Running(fields[1]):
		return "another copy of factlog in this process", true
	case owner == pid:
		return "", false // an engine of this process that stopped, or an earlier process with this pid
	case bootOf(fields[1]) != "" && bootOf(token) != "" && bootOf(fields[1]) != bootOf(token):
		return "", false // written before the machine restarted: its pid may be another process's now
	case l.Alive(owner):
		return fmt.Sprintf("process %d", owner), true
	}
	return "", false
}

// bootOf returns the boot a token names, if it names one: what follows
// its last ".". Tokens of factlogs that did not name it (and of systems
// where it is not known) are bare hex, and name none.
func bootOf(token string) string {
	if i := strings.LastIndexByte(token, '.'); i >= 0 {
		return token[i+1:]
	}
	return ""
}

// takeOver removes a lock whose content was stale. Other processes may
// be taking it over at the same time, and one may already hold the lock
// afresh: a lock file must never be moved or deleted while it may be
// live, since another process would then find none and take it while
// its holder has the store open. So a stale lock is removed only by the
// process holding the lock's takeover turn (a file made like the lock,
// by a hard link, held for a few calls), after it has read the lock
// again: a lock that holds stale content changes only by a takeover, so
// it is still the stale one when the turn's holder deletes it. The turn
// of a process that died while it held it is stale itself, and is moved
// aside like locks were (it is held for so short a time that the race
// this leaves needs a crash within it).
func takeOver(l Locker, lock, stale, tmp string, pid int, token string) error {
	turn := beside(lock, 0, "", "takeover")
	if err := l.Link(tmp, turn); err != nil {
		if !errors.Is(err, ErrExist) {
			return err
		}
		content, err := l.ReadFile(turn)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil // its holder is done: look again
			}
			return err
		}
		if _, ok := liveOwner(l, turn, string(content), pid, token); ok {
			return nil // another process's takeover: look again
		}
		return moveStale(l, turn, string(content))
	}
	defer l.Delete(turn)
	now, err := l.ReadFile(lock)
	if err != nil || string(now) != stale {
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return err // gone, or taken over by another process meanwhile
	}
	if err := l.Delete(lock); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// moveStale removes a stale file whose content was stale. It moves the
// file aside first and checks that what it moved is the stale one:
// another process may have replaced it meanwhile, and then gets it back.
func moveStale(l Locker, name, stale string) error {
	pid, token := l.Process()
	aside := beside(name, pid, token, "stale")
	if err := l.Rename(name, aside); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil // someone else moved it
		}
		return err
	}
	moved, err := l.ReadFile(aside)
	if err == nil && string(moved) != stale {
		// Not the stale one: a fresh one. Put it back (unless a third
		// process was faster, which then holds it).
		if err := l.Link(aside, name); err != nil && !errors.Is(err, ErrExist) {
			return err
		}
	}
	return l.Delete(aside)
}

// beside names a file of this process's in the lock's directory, for one
// step of taking it. Its length does not grow with the lock's: a store
// whose name is near the file system's limit (255 bytes) can still take
// its lock, and take over a stale one.
func beside(lock string, pid int, token, kind string) string {
	dir, base := "", lock
	if i := strings.LastIndexAny(lock, `/\`); i >= 0 {
		dir, base = lock[:i+1], lock[i+1:]
	}
	sum := sha256.Sum256([]byte(base))
	return fmt.Sprintf("%s.factlog-%x-%d-%.12s.%s", dir, sum[:6], pid, token, kind)
}

// unlockDB removes the lock file if it is still this process's. One that
// cannot be deleted (its directory was made read-only, a scanner holds
// it) is emptied instead, which makes it stale for other processes too;
// this engine knows it is no longer held either way.
func unlockDB(l Locker, lock, mine string) {
	held.Lock()
	defer held.Unlock()
	delete(held.locks, heldLock{l, lock})
	if content, err := l.ReadFile(lock); err == nil && string(content) == mine {
		if l.Delete(lock) != nil {
			l.WriteFile(lock, nil)
		}
	}
}
