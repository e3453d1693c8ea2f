// Package jsvfs is an SQLite VFS (for github.com/ncruces/go-sqlite3) over
// files that a JavaScript host opens for synchronous, positioned I/O: the
// Origin Private File System's FileSystemSyncAccessHandle in a browser
// Worker (opfs_js.go), and Node's fs.*Sync calls (node_js.go). The VFS
// itself is pure Go over the Dir and Handle interfaces, so it is tested
// natively.
//
// A database on these files is used by one connection, in
// locking_mode=EXCLUSIVE (which WAL needs, since there is no shared
// memory), so the SQLite locks here only track their level. One process
// or tab owns a database: in the browser OPFS grants one sync access
// handle per file (and the bridge elects one tab by a Web Lock); on a Dir
// that is a Locker (Node) a lock file does it (lockfile.go).
//
// Each call on a Handle crosses into JavaScript, so the WAL's writes are
// gathered: a commit's frames reach the file in one write (walfile.go).
package jsvfs

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// ErrNotFound is returned by Dir.Open without create, for a missing file.
var ErrNotFound = errors.New("file not found")

// Handle is an open file.
type Handle interface {
	// ReadAt reads at off; at the end of the file it returns fewer bytes
	// and no error.
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Flush() error
	Size() (int64, error)
	Close() error
}

// Dir holds the files of a VFS, by the names SQLite gives them.
type Dir interface {
	Open(name string, create bool) (Handle, error)
	Delete(name string) error
	Exists(name string) (bool, error)
}

// Register makes dir available to SQLite as the VFS name, for URIs like
// "file:todos?vfs=name".
func Register(name string, dir Dir) { vfs.Register(name, &fsVFS{dir: dir}) }

type fsVFS struct {
	dir Dir
	mu  sync.Mutex
	dbs map[string]*file // the open main databases, by name: their WALs find them
}

func (v *fsVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	// Temporary files (sorting, statement journals) stay in memory.
	if name == "" || flags&vfs.OPEN_DELETEONCLOSE != 0 {
		return &vfsutil.SliceFile{}, flags | vfs.OPEN_MEMORY, nil
	}
	unlock := func() {}
	if l, ok := v.dir.(Locker); ok && flags&vfs.OPEN_MAIN_DB != 0 {
		var err error
		if unlock, err = lockDB(l, name); err != nil {
			return nil, flags, vfs.SystemError(err, sqlite3.CANTOPEN)
		}
	}
	h, err := v.dir.Open(name, flags&vfs.OPEN_CREATE != 0)
	if err != nil {
		unlock()
		if errors.Is(err, ErrNotFound) {
			return nil, flags, sqlite3.CANTOPEN
		}
		return nil, flags, err
	}
	if l, ok := h.(Linked); ok && flags&vfs.OPEN_MAIN_DB != 0 {
		if n, err := l.Links(); err == nil && n > 1 {
			h.Close()
			unlock()
			return nil, flags, vfs.SystemError(fmt.Errorf("%w: %s has %d; remove the others, or copy the file rather than link it", db.ErrLinked, name, n), sqlite3.CANTOPEN)
		}
	}
	f := &file{h: h, release: unlock}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case flags&vfs.OPEN_MAIN_DB != 0:
		if v.dbs == nil {
			v.dbs = map[string]*file{}
		}
		v.dbs[name] = f
		f.release = func() {
			v.mu.Lock()
			delete(v.dbs, name)
			v.mu.Unlock()
			unlock()
		}
	case flags&vfs.OPEN_WAL != 0:
		// The database's commit ends with what the WAL gathered.
		f.gather = true
		if db := v.dbs[strings.TrimSuffix(name, "-wal")]; db != nil {
			db.wal = f
			f.release = func() {
				v.mu.Lock()
				if db.wal == f {
					db.wal = nil
				}
				v.mu.Unlock()
			}
		}
	}
	return f, flags, nil
}

func (v *fsVFS) Delete(name string, _ bool) error {
	err := v.dir.Delete(name)
	if errors.Is(err, ErrNotFound) {
		return sqlite3.IOERR_DELETE_NOENT
	}
	return err
}

func (v *fsVFS) Access(name string, _ vfs.AccessFlag) (bool, error) {
	return v.dir.Exists(name)
}

// Linked is a Handle whose file may have several names by hard links,
// which Resolve cannot join: a main database with more than one is
// refused (db.ErrLinked).
type Linked interface {
	Links() (int, error)
}

// Resolver is a Dir where a file may have several names (symbolic links,
// relative and absolute paths): Resolve gives its one name. A store
// opened by two names is then one file, with one lock file and one WAL —
// by the name as given, the second open took a lock of its own and wrote
// a WAL of its own into the same database, and one's writes were lost.
type Resolver interface {
	Resolve(name string) (string, error)
}

func (v *fsVFS) FullPathname(name string) (string, error) {
	if r, ok := v.dir.(Resolver); ok {
		return r.Resolve(name)
	}
	return name, nil
}

type file struct {
	h       Handle
	lock    vfs.LockLevel
	release func() // releases the lock file, if any, and forgets the file
	wal     *file  // a main database's open WAL
	writes         // a WAL's gathered writes (walfile.go)
}

var _ vfs.FileLockState = (*file)(nil)

func (f *file) Close() error {
	err := f.flush()
	err = errors.Join(err, f.h.Close())
	f.release()
	return err
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	n, err := f.h.ReadAt(p, off)
	if err != nil {
		return n, err
	}
	if n < len(p) {
		clear(p[n:]) // SQLite wants the rest zeroed on a short read
		return n, io.EOF
	}
	return n, nil
}

func (f *file) Truncate(size int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.h.Truncate(size)
}

func (f *file) Sync(vfs.SyncFlag) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.h.Flush()
}

func (f *file) Size() (int64, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.h.Size()
}

func (f *file) SectorSize() int { return 4096 }

func (f *file) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_UNDELETABLE_WHEN_OPEN
}

func (f *file) Lock(lock vfs.LockLevel) error {
	f.lock = max(f.lock, lock)
	return nil
}

func (f *file) Unlock(lock vfs.LockLevel) error {
	f.lock = min(f.lock, lock)
	return nil
}

func (f *file) CheckReservedLock() (bool, error) { return f.lock >= vfs.LOCK_RESERVED, nil }
func (f *file) LockState() vfs.LockLevel         { return f.lock }
