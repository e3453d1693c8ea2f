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
package jsvfs

import (
	"errors"
	"io"

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

type fsVFS struct{ dir Dir }

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
	return &file{h: h, unlock: unlock}, flags, nil
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

func (v *fsVFS) FullPathname(name string) (string, error) { return name, nil }

type file struct {
	h      Handle
	lock   vfs.LockLevel
	unlock func() // releases the lock file, if any
}

var _ vfs.FileLockState = (*file)(nil)

func (f *file) Close() error {
	err := f.h.Close()
	f.unlock()
	return err
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
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

func (f *file) WriteAt(p []byte, off int64) (int, error) { return f.h.WriteAt(p, off) }
func (f *file) Truncate(size int64) error                { return f.h.Truncate(size) }
func (f *file) Sync(vfs.SyncFlag) error                  { return f.h.Flush() }
func (f *file) Size() (int64, error)                     { return f.h.Size() }
func (f *file) SectorSize() int                          { return 4096 }

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
