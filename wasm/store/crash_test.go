package store_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
)

// The kill -9 test runs the work in a child process — this test binary
// again, which TestMain sends to crashChild — and kills it with SIGKILL
// in the middle of it. Whatever the moment, the store reopens, passes
// SQLite's integrity check, holds the log from before the work or from
// after it (never a part), and its state is the state a rebuild computes
// from that log.

const crashEnv = "FACTLOG_CRASH_CHILD"

// crashChild runs one piece of work on the store at path, saying on
// stdout what it does: "start", then "progress d/t" lines, then "done".
func crashChild(spec string) {
	op, rest, _ := strings.Cut(spec, ":")
	path, batchFile, _ := strings.Cut(rest, ":")
	ctx := context.Background()
	// A small page cache: SQLite writes pages to the file before the
	// transaction commits, as it does with large ones.
	opts := store.Options{Path: path, Schema: testSchema, Materializers: testMaterializers, UndoHorizon: -1, MaxMemory: 8 << 20,
		Progress: func(done, total int) { fmt.Printf("progress %d/%d\n", done, total) }}
	if op == "rebuild" {
		opts.Materializers = map[string]string{}
		for k, v := range testMaterializers {
			opts.Materializers[k] = v
		}
		opts.Materializers["set_completed"] = todo.StaysCompleted["set_completed"]
	}
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("start")
	s, err := store.Open(ctx, opts)
	if err != nil {
		fail(err)
	}
	if batchFile != "" {
		batch, err := os.ReadFile(batchFile)
		if err != nil {
			fail(err)
		}
		if _, err := s.Import(ctx, batch); err != nil {
			fail(err)
		}
	}
	fmt.Println("done")
	s.Close()
	os.Exit(0)
}

// crashRun starts the child and kills it when kill says so, given each
// line the child writes, or delay after it started (if delay > 0); it
// reports whether the child finished first.
func crashRun(t *testing.T, spec string, delay time.Duration, kill func(line string) bool) (finished bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+spec)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
	}()
	timeout := time.After(2 * time.Minute)
	var timer <-chan time.Time
	killNow := func() bool {
		cmd.Process.Signal(syscall.SIGKILL)
		for range lines {
		}
		cmd.Wait()
		return finished
	}
	for {
		select {
		case <-timer:
			return killNow()
		case line, ok := <-lines:
			if !ok {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("child %s: %v", spec, err)
				}
				return true
			}
			if strings.HasPrefix(line, "error") {
				t.Fatalf("child %s: %s", spec, line)
			}
			if line == "done" {
				finished = true
			}
			if line == "start" && delay > 0 {
				timer = time.After(delay)
			}
			if kill != nil && kill(line) {
				return killNow()
			}
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("child %s did not finish in 2 minutes", spec)
		}
	}
}

// verify reopens the store and checks it: integrity, a log of one of the
// allowed sizes, and a state equal to a rebuild's.
func verify(t *testing.T, path string, sizes ...int64) int64 {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Path: path, Schema: testSchema, Materializers: testMaterializers})
	if err != nil {
		t.Fatalf("reopen after the kill: %v", err)
	}
	defer s.Close()
	rows, err := s.Query(ctx, `PRAGMA integrity_check`)
	if err != nil || fmt.Sprint(rows.Values) != "[[ok]]" {
		t.Fatalf("integrity check: %v, %v", rows, err)
	}
	rows, err = s.Query(ctx, `SELECT count(*) FROM event`)
	if err != nil {
		t.Fatal(err)
	}
	n := rows.Values[0][0].(int64)
	ok := false
	for _, size := range sizes {
		ok = ok || n == size
	}
	if !ok {
		t.Fatalf("the log holds %d events after the kill, want one of %v", n, sizes)
	}
	mustRebuildSame(t, s, "after the kill")
	return n
}

func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no child processes (the wasm run)")
	}
	dir := t.TempDir()
	ctx := context.Background()
	// A log of some 8,000 events by five replicas, and one late event that
	// sorts before nearly all of it.
	all := buildLog(t, 20_000, 7).Events
	if len(all) < 5_000 {
		t.Fatalf("a log of %d events is too short for the test", len(all))
	}
	batch, err := sync.Encode(all, sign(all))
	if err != nil {
		t.Fatal(err)
	}
	late := openTest(t, 42)
	lateEv, err := late.Append(ctx, "todo-1", "set_content", []byte(`"late"`))
	late.Close()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, evs []event.Event) string {
		b, err := sync.Encode(evs, sign(evs))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := filepath.Join(dir, "all.batch")
	if err := os.WriteFile(full, batch, 0o644); err != nil {
		t.Fatal(err)
	}
	lateFile := write("late.batch", []event.Event{lateEv})
	rng := rand.New(rand.NewPCG(9, 9))
	mid := 0

	t.Run("import", func(t *testing.T) {
		for i := range 4 {
			path := filepath.Join(dir, fmt.Sprintf("import%d.db", i))
			delay := time.Duration(1+rng.IntN(300)) * time.Millisecond
			finished := crashRun(t, "import:"+path+":"+full, delay, nil)
			if !finished {
				mid++
			}
			verify(t, path, 0, int64(len(all)))
		}
	})
	// A store that holds the log, for the rewind and the rebuild.
	base := filepath.Join(dir, "base.db")
	if !crashRun(t, "import:"+base+":"+full, 0, nil) {
		t.Fatal("the base import did not finish")
	}
	copyStore := func(name string) string {
		b, err := os.ReadFile(base)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct{ name, op, batch string }{
		{"long rewind", "rewind", lateFile},
		{"rebuild", "rebuild", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i, at := range []float64{0.1, 0.5, 0.9} {
				path := copyStore(fmt.Sprintf("%s%d.db", tt.op, i))
				finished := crashRun(t, tt.op+":"+path+":"+tt.batch, 0, func(line string) bool {
					var done, total int
					_, err := fmt.Sscanf(line, "progress %d/%d", &done, &total)
					return err == nil && float64(done) >= at*float64(total)
				})
				if finished {
					t.Fatalf("the child finished before %.0f%% of the work", 100*at)
				}
				mid++
				want := []int64{int64(len(all))}
				if tt.batch != "" {
					want = append(want, int64(len(all)+1))
				}
				verify(t, path, want...)
			}
		})
	}
	t.Logf("%d of the kills landed in the middle of the work", mid)
}

// TestOutOfMemoryInMaterializer: a materializer that needs more memory
// than the store has (SQLite's driver panics, Tx turns it into
// NO_MEMORY) fails the call and leaves the store as it was — and
// working: the next import, append and query go through, and what they
// store is what a replica with memory to spare computes for the same
// events without the big one.
func TestOutOfMemoryInMaterializer(t *testing.T) {
	ctx := context.Background()
	opts := func(i int) store.Options {
		return store.Options{Schema: `CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL, v ANY)`, Materializers: map[string]string{
			"put": `INSERT OR REPLACE INTO t (k, v) VALUES (:item, :value)`,
			// A string of :value bytes: 32 MB is more than the small
			// store's 16 MiB.
			"big": `INSERT OR REPLACE INTO t (k, v) VALUES (:item, length(printf('%.*c', :value, 'x')))`,
		}, Rand: peerSeed(i), Now: fakeClock(), MaxMemory: 16 << 20}
	}
	a, err := store.Open(ctx, opts(1))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Append(ctx, "a", "put", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	small, err := store.Open(ctx, opts(2))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	sendAll(t, a, small)
	stored := func() string {
		var b strings.Builder
		if err := small.Dump(ctx, &b, "event", "event_dag", "_factlog_head", "_factlog_tip", "_factlog_author", "t"); err != nil {
			t.Fatalf("dump: %v", err)
		}
		return b.String()
	}
	before := stored()
	if _, err := small.Append(ctx, "b", "big", []byte(`32000000`)); store.Code(err) != store.CodeNoMemory {
		t.Fatalf("append of an event whose materializer needs 32 MB: %v (%s), want %s", err, store.Code(err), store.CodeNoMemory)
	}
	if got := stored(); got != before {
		t.Fatalf("the failed append changed the store:\n%s\nwant:\n%s", got, before)
	}
	// The store goes on: an import, an append, a query.
	if _, err := a.Append(ctx, "c", "put", []byte(`3`)); err != nil {
		t.Fatal(err)
	}
	sendAll(t, a, small)
	if _, err := small.Append(ctx, "d", "put", []byte(`4`)); err != nil {
		t.Fatalf("append after running out of memory: %v", err)
	}
	rows, err := small.Query(ctx, `SELECT k, v FROM t ORDER BY k`)
	if err != nil {
		t.Fatalf("query after running out of memory: %v", err)
	}
	if got, want := fmt.Sprint(rows.Values), "[[a 1] [c 3] [d 4]]"; got != want {
		t.Fatalf("state %s, want %s", got, want)
	}
	mustRebuildSame(t, small, "after running out of memory")
}
