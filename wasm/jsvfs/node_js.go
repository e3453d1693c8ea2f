//go:build js && wasm

package jsvfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
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

func isENOENT(err error) bool { return isCode(err, "ENOENT") }

// isCode reports whether err is a Node system error with the code.
func isCode(err error, code string) bool {
	var e *jsvalue.Error
	return errors.As(err, &e) && e.Code == code
}

// Node is a Locker: other processes open the same files.
var _ Locker = (*Node)(nil)

// Node is a Resolver: a file may be reached by several paths.
var _ Resolver = (*Node)(nil)

// Resolve returns a file's real path; for one not created yet, the real
// path of its directory, and its name there. A symbolic link to a file
// not created yet names that file: opening creates it through the link,
// and the store must be one by either name (its lock file and WAL beside
// the file, not beside the link).
func (n *Node) Resolve(name string) (string, error) {
	for range 40 { // links to links, up to Linux's own limit
		p, err := jsvalue.Call(n.fs, "realpathSync", name)
		if err == nil {
			return p.String(), nil
		}
		if !isENOENT(err) {
			return "", fmt.Errorf("resolve %s: %w", name, err)
		}
		target, err := jsvalue.Call(n.fs, "readlinkSync", name)
		if err != nil {
			break // not a link: the file itself is missing
		}
		t := target.String()
		if !strings.HasPrefix(t, "/") && !isWindowsAbs(t) {
			if i := strings.LastIndexAny(name, `/\`); i >= 0 {
				t = name[:i+1] + t
			}
		}
		name = t
	}
	dir, base := ".", name
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		dir, base = name[:i+1], name[i+1:]
	}
	d, err := jsvalue.Call(n.fs, "realpathSync", dir)
	if err != nil {
		return name, nil // the directory is missing: opening says so
	}
	return strings.TrimRight(d.String(), `/\`) + "/" + base, nil
}

// isWindowsAbs reports whether p is an absolute Windows path (C:\x, \\host\x).
func isWindowsAbs(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') || strings.HasPrefix(p, `\\`)
}

func (n *Node) WriteFile(name string, content []byte) error {
	_, err := jsvalue.Call(n.fs, "writeFileSync", name, jsvalue.Array(content))
	return err
}

func (n *Node) Link(from, to string) error {
	_, err := jsvalue.Call(n.fs, "linkSync", from, to)
	switch {
	case err == nil:
		return nil
	case isCode(err, "EEXIST"):
		return ErrExist
	case isCode(err, "EPERM"), isCode(err, "ENOTSUP"), isCode(err, "ENOSYS"):
		// A file system without hard links (FAT, some network ones):
		// an exclusive create, then the content.
		b, err := n.ReadFile(from)
		if err != nil {
			return err
		}
		if _, err := jsvalue.Call(n.fs, "writeFileSync", to, jsvalue.Array(b), map[string]any{"flag": "wx"}); err != nil {
			if isCode(err, "EEXIST") {
				return ErrExist
			}
			return err
		}
		return nil
	}
	return err
}

func (n *Node) ReadFile(name string) ([]byte, error) {
	b, err := jsvalue.Call(n.fs, "readFileSync", name)
	if err != nil {
		if isENOENT(err) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return jsvalue.Bytes(b), nil
}

func (n *Node) Rename(from, to string) error {
	_, err := jsvalue.Call(n.fs, "renameSync", from, to)
	if err != nil && isENOENT(err) {
		return ErrNotFound
	}
	return err
}

// EngineToken names this engine (this Go program) in its process: the
// bridge removes it from the running engines when the program ends
// (jsbridge/runtime.js), and the locks it held become stale.
//
// Where the system says which boot this is (Linux), the token ends in
// ".<boot>": a lock of another boot is stale, whatever process has its
// pid now (lockfile.go).
var EngineToken = sync.OnceValue(func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b) + bootSuffix()
})

// bootSuffix returns ".<boot>" for this boot of the machine, from Linux's
// boot_id (a random UUID made at each boot), or "" where there is none.
func bootSuffix() string {
	fs := js.Global().Get("fs")
	if fs.Type() != js.TypeObject || fs.Get("readFileSync").Type() != js.TypeFunction {
		return "" // a browser
	}
	id, err := jsvalue.Call(fs, "readFileSync", "/proc/sys/kernel/random/boot_id", "latin1")
	if err != nil || id.Type() != js.TypeString {
		return ""
	}
	hexDigits := strings.Map(func(r rune) rune {
		if strings.ContainsRune("0123456789abcdef", r) {
			return r
		}
		return -1
	}, strings.ToLower(id.String()))
	if len(hexDigits) < 16 {
		return ""
	}
	return "." + hexDigits[:16]
}

// engines is the set of the tokens of the engines running in this
// process, kept on the process object: shared by every copy of factlog,
// so that copies refuse each other's stores instead of taking them over.
func engines() js.Value {
	proc, reflect := js.Global().Get("process"), js.Global().Get("Reflect")
	key := js.Global().Get("Symbol").Call("for", "factlog.engines")
	set := reflect.Call("get", proc, key)
	if set.Type() != js.TypeObject {
		set = js.Global().Get("Set").New()
		reflect.Call("set", proc, key, set)
	}
	return set
}

// Process returns the pid and this engine's token, which it registers as
// running.
func (n *Node) Process() (int, string) {
	engines().Call("add", EngineToken())
	return js.Global().Get("process").Get("pid").Int(), EngineToken()
}

// Running reports whether an engine of this process with the token runs.
func (n *Node) Running(token string) bool {
	return engines().Call("has", token).Bool()
}

// Alive asks the system whether a process exists: signal 0 checks
// without sending anything (EPERM: it exists, and is someone else's).
func (n *Node) Alive(pid int) bool {
	_, err := jsvalue.Call(js.Global().Get("process"), "kill", pid, 0)
	return err == nil || !isCode(err, "ESRCH")
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

func (f *nodeHandle) Links() (int, error) {
	st, err := jsvalue.Call(f.fs, "fstatSync", f.fd)
	if err != nil {
		return 0, err
	}
	return st.Get("nlink").Int(), nil
}

func (f *nodeHandle) Close() error {
	_, err := jsvalue.Call(f.fs, "closeSync", f.fd)
	return err
}
