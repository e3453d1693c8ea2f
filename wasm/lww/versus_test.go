package lww_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/lww"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// TestRegistersVersusLog runs the same concurrent edits through both
// systems, as the seed tells it: both converge, but only the event log can
// say that todo 1 was "make pasta" and complete before it became "cook"
// and not complete, and only the log can be read another way (a completed
// todo stays completed) without losing anything.
func TestRegistersVersusLog(t *testing.T) {
	ctx := context.Background()
	type replica struct {
		regs *lww.Registers
		log  *store.Store
	}
	replicas := make([]replica, 2)
	for i := range replicas {
		regs, err := lww.Open(ctx, lww.Options{Table: "todo", Columns: []string{"content", "completed"}})
		if err != nil {
			t.Fatal(err)
		}
		defer regs.Close()
		log, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins,
			// Fixed peers and times: fixed ids, so a fixed order of concurrent events.
			Rand: bytes.NewReader(bytes.Repeat([]byte{byte(i + 1)}, 32)), Now: func() time.Time { return time.UnixMilli(1_700_000_000_000) }})
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		replicas[i] = replica{regs, log}
	}
	edit := func(r replica, item, field, value string) {
		t.Helper()
		if _, err := r.regs.Set(ctx, item, field, []byte(value)); err != nil {
			t.Fatal(err)
		}
		typ := map[string]string{"content": "set_content", "completed": "set_completed"}[field]
		if _, err := r.log.Append(ctx, item, typ, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	sync := func(from, to replica) {
		t.Helper()
		state, err := from.regs.ExportState(ctx)
		if err == nil {
			_, err = to.regs.MergeState(ctx, state)
		}
		if err != nil {
			t.Fatal(err)
		}
		vv, _ := to.log.VersionVector(ctx)
		batch, err := from.log.ExportSince(ctx, vv)
		if err == nil {
			_, err = to.log.Import(ctx, batch)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := replicas[0], replicas[1]
	if _, err := a.log.Append(ctx, "1", "create", []byte(`"make pasta"`)); err != nil {
		t.Fatal(err)
	}
	edit(a, "1", "content", `"make pasta"`)
	edit(a, "1", "completed", `true`)
	sync(a, b)
	edit(b, "1", "content", `"cook"`) // concurrently, while apart
	edit(a, "1", "completed", `false`)
	sync(a, b)
	sync(b, a)

	for i, r := range replicas {
		_, rows, _ := r.regs.Rows(ctx)
		if want := [][]any{{"1", "cook", int64(0)}}; !reflect.DeepEqual(rows, want) {
			t.Fatalf("replica %d registers: %v, want %v", i, rows, want)
		}
		todos, _ := r.log.Query(ctx, `SELECT id, content, completed FROM todo`)
		if want := [][]any{{"1", "cook", int64(0)}}; !reflect.DeepEqual(todos.Values, want) {
			t.Fatalf("replica %d log: %v, want %v", i, todos.Values, want)
		}
	}

	// The registers keep one value and a clock per column: the history is gone.
	state, _ := a.regs.State(ctx)
	if len(state) != 2 {
		t.Fatalf("registers hold %d values, want one per column", len(state))
	}
	// The log answers what happened to todo 1.
	item := "1"
	history, _ := a.log.Events(ctx, &item)
	var story []string
	for _, e := range history {
		story = append(story, fmt.Sprintf("%s %s", e.Type, e.Value))
	}
	// (The last two are concurrent: replay orders them by id.)
	want := []string{`create "make pasta"`, `set_content "make pasta"`, `set_completed true`, `set_completed false`, `set_content "cook"`}
	if !reflect.DeepEqual(story, want) {
		t.Fatalf("history %v, want %v", story, want)
	}
	// And it can be read another way: a completed todo stays completed.
	if err := a.log.Reinterpret(ctx, todo.Schema, todo.StaysCompleted, nil); err != nil {
		t.Fatal(err)
	}
	todos, _ := a.log.Query(ctx, `SELECT content, completed FROM todo`)
	if want := [][]any{{"cook", int64(1)}}; !reflect.DeepEqual(todos.Values, want) {
		t.Fatalf("re-read: %v, want %v", todos.Values, want)
	}
	if n, _ := a.log.Events(ctx, nil); len(n) != 5 {
		t.Fatalf("re-reading lost events: %d left", len(n))
	}
}
