package jsvfs

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// SQLite writes a WAL frame as two calls, its 24-byte header and then
// its page, so a commit of a few pages was some twenty calls into
// JavaScript, each a system call in Node (a tenth of a small append's
// time there). The WAL's writes are gathered instead, while each follows
// the one before on the file, and reach the Handle in one call:
//
//   - when the commit's last frame is written: its header is the one
//     with a database size (bytes 4–8; zero in every other frame). The
//     write is made inside the call that writes the frame, so a failed
//     write fails the commit as it did unbuffered;
//   - at the end of every commit (SQLITE_FCNTL_COMMIT_PHASETWO, on the
//     database's file), for a commit that ends otherwise: one that wrote
//     a page again, whose checksums SQLite then rewrites, frame header by
//     frame header, the last one after the last page;
//   - before anything else touches the file (a read, a write elsewhere,
//     its size, a truncation, a sync, closing it);
//   - when maxGathered bytes are waiting (a transaction spilling pages).
//
// So a commit is on the file before SQLite's COMMIT returns, and before
// factlog acknowledges anything in it: what a process killed with -9
// leaves holds it (TestCommitIsOnFile). What is gathered and not yet
// written is only ever frames of the open transaction.
const (
	frameHeader = 24
	maxGathered = 1 << 20
)

// writes gathers a WAL's contiguous writes.
type writes struct {
	gather bool   // this file's writes are gathered (the WAL)
	buf    []byte // waiting, to be written at off
	off    int64
	commit bool  // the last write was a commit frame's header: its page ends it
	broken error // a commit's write failed after SQLite counted it done
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if !f.gather {
		return f.h.WriteAt(p, off)
	}
	if len(f.buf) > 0 && off != f.off+int64(len(f.buf)) {
		if err := f.flush(); err != nil {
			return 0, err
		}
	}
	if f.broken != nil {
		return 0, f.broken
	}
	if len(f.buf) == 0 {
		f.off = off
	}
	f.buf = append(f.buf, p...)
	ends := f.commit
	f.commit = false
	if ends || len(f.buf) >= maxGathered {
		if err := f.flush(); err != nil {
			return 0, err
		}
	}
	f.commit = len(p) == frameHeader && binary.BigEndian.Uint32(p[4:8]) != 0
	return len(p), nil
}

// flush writes what is gathered. It is forgotten even when the write
// fails: SQLite then fails the transaction and writes its frames again.
func (f *file) flush() error {
	if f.broken != nil {
		return f.broken
	}
	if len(f.buf) == 0 {
		return nil
	}
	b, off := f.buf, f.off
	f.buf = f.buf[:0]
	if cap(f.buf) > 2*maxGathered {
		f.buf = nil // do not keep what a very large page size gathered
	}
	for len(b) > 0 {
		n, err := f.h.WriteAt(b, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

var _ vfs.FileCommitPhaseTwo = (*file)(nil)

// CommitPhaseTwo is called on the database's file once SQLite counts a
// commit done: the WAL must hold it now. If that write fails, SQLite
// already reads the commit's pages from the WAL, so the WAL fails every
// call from then on; the store must be opened again, which finds the
// commit incomplete and leaves it out, as a crash would.
func (f *file) CommitPhaseTwo() error {
	w := f.wal
	if w == nil {
		return nil
	}
	w.commit = false // a header written again, whose page is not to come
	if err := w.flush(); err != nil && w.broken == nil {
		w.broken = vfs.SystemError(fmt.Errorf("a commit could not be written to the WAL; open the store again: %w", err), sqlite3.IOERR_WRITE)
		return w.broken
	}
	return w.broken
}
