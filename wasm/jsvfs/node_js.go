//go:build js && wasm

package jsvfs

import (
	"errors"
	"fmt"
	"strings"
	"syscall/js"

	"github.com/factlog/factlog/wasm/internal/jsvalue"
)

// Node is the file system of the Node process, through its synchronous fs
// calls: a round trip through the event loop per page, which Go's os
// package makes, costs milliseconds; a readSync costs microseconds.
type Node struct{ fs js.Value }

// OpenNode uses the fs module at globalThis.fs (wasm_exec.js needs it
// there too).
func OpenNode() (*Node, error) {
	fs := js.Global().Get("fs")
	if fs.IsUndefined() || fs.Get("readSync").IsUndefined() {
		return nil, fmt.Errorf("node's fs module is not at globalThis.fs")
	}
	return &Node{fs: fs}, nil
}

func (n *Node) Open(name string, create bool) (Handle, error) {
	c := n.fs.Get("constants")
	flags := c.Get("O_RDWR").Int()
	if create {
		flags |= c.Get("O_CREAT").Int()
	}
	fd, err := jsvalue.Call(n.fs, "openSync", name, flags, 0o644)
	if err != nil {
		if isENOENT(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &nodeHandle{fs: n.fs, fd: fd}, nil
}

func isENOENT(err error) bool {
	var e *jsvalue.Error
	return errors.As(err, &e) && strings.HasPrefix(e.Message, "ENOENT")
}

func (n *Node) Delete(name string) error {
	_, err := jsvalue.Call(n.fs, "unlinkSync", name)
	if err != nil && isENOENT(err) {
		return ErrNotFound
	}
	return err
}

func (n *Node) Exists(name string) (bool, error) {
	ok, err := jsvalue.Call(n.fs, "existsSync", name)
	return err == nil && ok.Bool(), err
}

type nodeHandle struct {
	fs  js.Value
	fd  js.Value
	buf jsvalue.Buffer
}

func (f *nodeHandle) ReadAt(p []byte, off int64) (int, error) {
	a := f.buf.Get(len(p))
	n, err := jsvalue.Call(f.fs, "readSync", f.fd, a, 0, len(p), off)
	if err != nil {
		return 0, err
	}
	js.CopyBytesToGo(p[:n.Int()], a)
	return n.Int(), nil
}

func (f *nodeHandle) WriteAt(p []byte, off int64) (int, error) {
	a := f.buf.Get(len(p))
	js.CopyBytesToJS(a, p)
	n, err := jsvalue.Call(f.fs, "writeSync", f.fd, a, 0, len(p), off)
	if err != nil {
		return 0, err
	}
	return n.Int(), nil
}

func (f *nodeHandle) Truncate(size int64) error {
	_, err := jsvalue.Call(f.fs, "ftruncateSync", f.fd, size)
	return err
}

func (f *nodeHandle) Flush() error {
	_, err := jsvalue.Call(f.fs, "fsyncSync", f.fd)
	return err
}

func (f *nodeHandle) Size() (int64, error) {
	st, err := jsvalue.Call(f.fs, "fstatSync", f.fd)
	if err != nil {
		return 0, err
	}
	return int64(st.Get("size").Float()), nil
}

func (f *nodeHandle) Close() error {
	_, err := jsvalue.Call(f.fs, "closeSync", f.fd)
	return err
}
