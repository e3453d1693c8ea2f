package jsapi

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/factlog/factlog/wasm/todo"
)

// fileHost is a Host whose named stores are files in a temp folder, so
// that a test can close a store (a leader going away) and reopen it.
func fileHost(t *testing.T) *Host {
	dir := t.TempDir()
	return &Host{Storage: func(name string) (string, string, bool, string, error) {
		return filepath.Join(dir, name), "", true, "", nil
	}}
}

func openFile(t *testing.T, h *Host) float64 {
	t.Helper()
	res, _ := call(t, h, "open", map[string]any{"name": "todos", "schema": todo.Schema, "materializers": todo.LastWriterWins}, nil)
	return res["db"].(float64)
}

type appended struct {
	ID  string `json:"id"`
	Seq int    `json:"seq"`
}

func appendKey(t *testing.T, h *Host, db float64, key, item string) []appended {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"db": db, "request": key, "retry": true, "events": []any{
		map[string]any{"item": item, "type": "create", "value": "x"},
		map[string]any{"item": item, "type": "set_completed", "value": true},
	}})
	res, _, err := h.Call(context.Background(), 0, "append", b, nil)
	if err != nil {
		t.Fatalf("append %s: %v", key, err)
	}
	var evs []appended
	json.Unmarshal(res, &evs)
	return evs
}

func eventCount(t *testing.T, h *Host, db float64) float64 {
	t.Helper()
	res, _ := call(t, h, "query", map[string]any{"db": db, "sql": "SELECT count(*) FROM event"}, nil)
	return res["rows"].([]any)[0].([]any)[0].(float64)
}

// TestRequestRetried: the same request key twice appends once, and the
// retry gets the first attempt's events — with the same leader, and after
// the store was closed and opened again (a new leader).
func TestRequestRetried(t *testing.T) {
	h := fileHost(t)
	db := openFile(t, h)
	first := appendKey(t, h, db, "tab1:1", "a")
	if len(first) != 2 || first[0].Seq != 1 {
		t.Fatalf("first attempt: %+v", first)
	}
	if again := appendKey(t, h, db, "tab1:1", "a"); again[0] != first[0] || again[1] != first[1] {
		t.Fatalf("retry with the same leader: %+v, want %+v", again, first)
	}
	appendKey(t, h, db, "tab2:1", "b")
	call(t, h, "close", map[string]any{"db": db}, nil)

	db = openFile(t, h) // the next leader
	if again := appendKey(t, h, db, "tab1:1", "a"); again[0] != first[0] || again[1] != first[1] {
		t.Fatalf("retry with the next leader: %+v, want %+v", again, first)
	}
	if n := eventCount(t, h, db); n != 4 {
		t.Fatalf("%v events, want 4 (two requests of two)", n)
	}
	call(t, h, "close", map[string]any{"db": db}, nil)
}

// TestRequestLost: the leader journaled a request and went away before
// appending it: the next leader finds it void, and the retry appends it,
// once — even when another append took its seqs first.
func TestRequestLost(t *testing.T) {
	h := fileHost(t)
	db := openFile(t, h)
	appendKey(t, h, db, "tab1:1", "a")
	call(t, h, "query", map[string]any{"db": db, "sql": "INSERT INTO " + requestsTable + " VALUES ('tab1:2', 3, '[[\"b\",\"create\"],[\"b\",\"set_completed\"]]', 'pending', 0)"}, nil)
	call(t, h, "close", map[string]any{"db": db}, nil)

	db = openFile(t, h)
	other := appendKey(t, h, db, "tab2:1", "c") // takes seqs 3 and 4
	if other[0].Seq != 3 {
		t.Fatalf("the other append: %+v", other)
	}
	got := appendKey(t, h, db, "tab1:2", "b")
	if got[0].Seq != 5 || got[0] == other[0] {
		t.Fatalf("the retried request: %+v (the other one is %+v)", got, other)
	}
	if n := eventCount(t, h, db); n != 6 {
		t.Fatalf("%v events, want 6", n)
	}
}

// TestRequestFailed: an append that fails leaves its key free.
func TestRequestFailed(t *testing.T) {
	h := fileHost(t)
	db := openFile(t, h)
	_, _, err := h.Call(context.Background(), 0, "append", []byte(`{"db":1,"request":"k","events":[{"item":"a","type":""}]}`), nil)
	if err == nil {
		t.Fatal("an empty type was appended")
	}
	if got := appendKey(t, h, db, "k", "a"); len(got) != 2 || got[0].Seq != 1 {
		t.Fatalf("after the failure: %+v", got)
	}
}
