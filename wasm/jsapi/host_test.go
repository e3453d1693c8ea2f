package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

func call(t *testing.T, h *Host, method string, args any, data []byte) (map[string]any, []byte) {
	t.Helper()
	b, _ := json.Marshal(args)
	res, out, err := h.Call(context.Background(), 0, method, b, data)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	var v any
	if err := json.Unmarshal(res, &v); err != nil {
		t.Fatalf("%s: result %s: %v", method, res, err)
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{"result": v}
	}
	return m, out
}

func openTodo(t *testing.T, h *Host) float64 {
	t.Helper()
	res, _ := call(t, h, "open", map[string]any{"name": ":memory:", "schema": todo.Schema, "materializers": todo.LastWriterWins}, nil)
	return res["db"].(float64)
}

func TestCalls(t *testing.T) {
	h := &Host{}
	defer h.Close()
	a, b := openTodo(t, h), openTodo(t, h)
	res, _ := call(t, h, "append", map[string]any{"db": a, "events": []any{
		map[string]any{"item": "1", "type": "create", "value": "make pasta"},
		map[string]any{"item": "1", "type": "set_completed", "value": true},
	}}, nil)
	evs := res["result"].([]any)
	if len(evs) != 2 || evs[1].(map[string]any)["value"] != true {
		t.Fatalf("append returned %v", evs)
	}
	_, batch := call(t, h, "exportSince", map[string]any{"db": a, "vv": map[string]int{}}, nil)
	res, _ = call(t, h, "import", map[string]any{"db": b}, batch)
	if res["added"] != 2.0 {
		t.Fatalf("import: %v", res)
	}
	res, _ = call(t, h, "query", map[string]any{"db": b, "sql": "SELECT id, content, completed, x'00ff' AS blob FROM todo WHERE id = :id", "params": map[string]any{"id": "1"}}, nil)
	row := res["rows"].([]any)[0].([]any)
	if row[1] != "make pasta" || row[2] != 1.0 || row[3].(map[string]any)["$blob"] != "AP8=" {
		t.Fatalf("query: %v", res)
	}
	res, _ = call(t, h, "versionVector", map[string]any{"db": b}, nil)
	if len(res) != 1 {
		t.Fatalf("version vector: %v", res)
	}
	res, _ = call(t, h, "events", map[string]any{"db": b, "item": "1"}, nil)
	if len(res["result"].([]any)) != 2 {
		t.Fatalf("events: %v", res)
	}
	call(t, h, "close", map[string]any{"db": a}, nil)
	_, _, err := h.Call(context.Background(), 0, "heads", []byte(`{"db":1}`), nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != store.CodeClosed {
		t.Fatalf("call after close: %v", err)
	}
}

// TestParamTypes: parameters bind as SQLite's types the way JavaScript's
// own SQLite clients bind them — a whole number as an INTEGER, so that 5
// finds the row whose key is 5, and concatenates as '5', not '5.0'.
func TestParamTypes(t *testing.T) {
	h := &Host{}
	defer h.Close()
	res, _ := call(t, h, "open", map[string]any{"name": ":memory:", "schema": `CREATE TABLE n (k INTEGER PRIMARY KEY, t TEXT)`,
		"materializers": map[string]string{"put": `INSERT INTO n VALUES (CAST(:item AS INTEGER), :item)`}}, nil)
	db := res["db"]
	call(t, h, "append", map[string]any{"db": db, "events": []any{map[string]any{"item": "5", "type": "put"}}}, nil)
	for _, tc := range []struct{ sql, params, want string }{
		{`SELECT typeof(?), ? || '', json_array(?)`, `[5, 5, 5]`, `[["integer","5","[5]"]]`},
		{`SELECT typeof(?), typeof(?), typeof(?), typeof(?)`, `[5.5, -0, 1e3, 1e300]`, `[["real","integer","real","real"]]`},
		{`SELECT ?, ?, ?`, `[9223372036854775807, 9223372036854775808, {"$int": "-9223372036854775808"}]`, `[[{"$int":"9223372036854775807"},9223372036854776000,-9223372036854775808]]`},
		{`SELECT ?, ? + 1, -? - 1, ?`, `[9007199254740992, 9007199254740992, 9007199254740992, {"$int": "1152921504606846977"}]`, `[[9007199254740992,{"$int":"9007199254740993"},{"$int":"-9007199254740993"},{"$int":"1152921504606846977"}]]`},
		{`SELECT k FROM n WHERE k = ?`, `[5]`, `[[5]]`},
		{`SELECT k FROM n WHERE t = :t`, `{"t": 5}`, `[[5]]`},
	} {
		res, _, err := h.Call(context.Background(), 0, "query", []byte(`{"db":1,"sql":`+strconv.Quote(tc.sql)+`,"params":`+tc.params+`}`), nil)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.sql, tc.params, err)
		}
		var got struct{ Rows json.RawMessage }
		if err := json.Unmarshal(res, &got); err != nil {
			t.Fatal(err)
		}
		if string(got.Rows) != tc.want {
			t.Errorf("%s with %s: %s, want %s", tc.sql, tc.params, got.Rows, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	h := &Host{}
	defer h.Close()
	db := openTodo(t, h)
	for _, tt := range []struct {
		method, args string
		data         []byte
		code, match  string
	}{
		{"nope", `{}`, nil, store.CodeArgument, "no method"},
		{"append", `{"db":1,"events":[{"item":"1","type":""}]}`, nil, store.CodeInvalidEvent, "type is empty"},
		{"append", `not json`, nil, store.CodeArgument, "append"},
		{"query", `{"db":1,"sql":"SELEC 1"}`, nil, store.CodeSQL, "syntax error"},
		{"query", `{"db":1,"sql":"DELETE FROM todo"}`, nil, store.CodeSQL, "append"},
		{"query", `{"db":1,"sql":"SELECT ?","params":5}`, nil, store.CodeArgument, "array or an object"},
		{"import", `{"db":1}`, []byte("garbage"), store.CodeInvalidBatch, "corrupt"},
		{"heads", `{"db":99}`, nil, store.CodeClosed, "closed"},
		{"heads", `{}`, nil, store.CodeArgument, "no db"},
		{"heads", `[1]`, nil, store.CodeArgument, "cannot unmarshal array"},
		{"heads", `{"x":{"db":1}}`, nil, store.CodeArgument, "no db"}, // a member of a member is not the handle
		{"heads", `{"db":"1"}`, nil, store.CodeArgument, "db"},
		{"heads", `{"db":1.5}`, nil, store.CodeArgument, "db"},
		{"heads", `{"db":1`, nil, store.CodeArgument, "heads"},
		{"heads", `{"db":1} {}`, nil, store.CodeArgument, "after top-level value"},
		{"registers.rows", `{"db":1}`, nil, store.CodeArgument, "no registers"},
		{"append", `{"events":[{"item":"1","type":"a","value":{"db":1}}]}`, nil, store.CodeArgument, "no db"},
		{"heads", `{"x":[1,{"y":2}],"db":99}`, nil, store.CodeClosed, "closed"}, // found past other members
		{"watch", `{"db":1,"sql":"SELECT 1"}`, nil, store.CodeArgument, "notification key"},
		{"query", `{"db":1,"sql":"SELECT ?"}`, nil, store.CodeArgument, "has 1 parameter(s) and 0 value(s)"},
		{"query", `{"db":1,"sql":"SELECT ?, ?","params":[1]}`, nil, store.CodeArgument, "has 2 parameter(s) and 1 value(s)"},
		{"query", `{"db":1,"sql":"SELECT ?","params":[1,2]}`, nil, store.CodeArgument, "has 1 parameter(s) and 2 value(s)"},
		{"query", `{"db":1,"sql":"SELECT :a, :b","params":{"a":1}}`, nil, store.CodeArgument, "parameter :b is missing"},
		{"query", `{"db":1,"sql":"SELECT ?","params":{"a":1}}`, nil, store.CodeArgument, "pass an array"},
		{"query", `{"db":1,"sql":"SELECT ?","params":[{"a":1}]}`, nil, store.CodeArgument, "Uint8Array"},
		{"query", `{"db":1,"sql":"SELECT ?","params":[{"$blob":"!!"}]}`, nil, store.CodeArgument, "base64"},
		{"query", `{"db":1,"sql":"SELECT ?","params":[{"$int":"9223372036854775808"}]}`, nil, store.CodeArgument, "64-bit"},
		{"watch", `{"db":1,"sql":"SELECT 1","watch":-3}`, nil, store.CodeArgument, "notification key"},
		{"connect", `{"db":1,"url":"ws://127.0.0.1:1/v1/rooms/x"}`, nil, store.CodeArgument, "notification key"},
	} {
		_, _, err := h.Call(context.Background(), 0, tt.method, []byte(tt.args), tt.data)
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.match) {
			t.Errorf("%s %s: %v; want code %s saying %q", tt.method, tt.args, err, tt.code, tt.match)
		}
	}
	_ = db
}

func TestWatchNotifies(t *testing.T) {
	got := make(chan string, 10)
	h := &Host{Notify: func(kind string, id int, b []byte) { got <- fmt.Sprintf("%s %d %s", kind, id, b) }}
	defer h.Close()
	db := openTodo(t, h)
	call(t, h, "watch", map[string]any{"db": db, "sql": "SELECT content FROM todo", "watch": 7}, nil)
	wait := func() string {
		select {
		case s := <-got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no notification")
			return ""
		}
	}
	if s := wait(); s != `watch 7 {"columns":["content"],"rows":[]}` {
		t.Fatalf("first notification %s", s)
	}
	call(t, h, "append", map[string]any{"db": db, "events": []any{map[string]any{"item": "1", "type": "create", "value": "cook"}}}, nil)
	if s := wait(); s != `watch 7 {"columns":["content"],"rows":[["cook"]]}` {
		t.Fatalf("second notification %s", s)
	}
}

func TestWatchKeyInUse(t *testing.T) {
	h := &Host{}
	defer h.Close()
	db := openTodo(t, h)
	call(t, h, "watch", map[string]any{"db": db, "sql": "SELECT 1", "watch": 3}, nil)
	_, _, err := h.Call(context.Background(), 0, "watch", []byte(`{"db":1,"sql":"SELECT 2","watch":3}`), nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != store.CodeArgument || !strings.Contains(e.Message, "in use") {
		t.Fatalf("a second watch with key 3: %v", err)
	}
	call(t, h, "unwatch", map[string]any{"watch": 3}, nil)
	call(t, h, "watch", map[string]any{"db": db, "sql": "SELECT 2", "watch": 3}, nil) // free again
}

// TestCancel: a call that would never end stops when cancelled, with
// code ABORTED, and the store goes on.
func TestCancel(t *testing.T) {
	h := &Host{}
	defer h.Close()
	db := openTodo(t, h)
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Call(context.Background(), 5, "query", []byte(`{"db":1,"sql":"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"}`), nil)
		done <- err
	}()
	for running := false; !running; {
		h.mu.Lock()
		running = h.calls[5] != nil
		h.mu.Unlock()
		select {
		case err := <-done:
			t.Fatalf("the endless query ended by itself: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	h.Cancel(5)
	select {
	case err := <-done:
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeAborted {
			t.Fatalf("cancelled query: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the query did not stop when cancelled")
	}
	h.Cancel(5) // no longer running: nothing happens
	res, _ := call(t, h, "query", map[string]any{"db": db, "sql": "SELECT 1 AS one"}, nil)
	if fmt.Sprint(res["rows"]) != "[[1]]" {
		t.Fatalf("after the cancel: %v", res)
	}
}

// TestRegisterSetAgain: a registers.set marked retry (a tab's leader went
// away before answering) does not move the clock of a register that holds
// its value; a plain one does.
func TestRegisterSetAgain(t *testing.T) {
	h := &Host{}
	defer h.Close()
	res, _ := call(t, h, "openRegisters", map[string]any{"name": ":memory:", "table": "todo", "columns": []string{"content"}}, nil)
	regs := res["registers"]
	for _, step := range []struct {
		retry bool
		clock float64
	}{{false, 1}, {true, 1}, {true, 1}, {false, 2}} {
		res, _ := call(t, h, "registers.set", map[string]any{"registers": regs, "id": "1", "column": "content", "value": "cook", "retry": step.retry}, nil)
		if res["clock"] != step.clock {
			t.Fatalf("set (retry %v): %v, want clock %v", step.retry, res, step.clock)
		}
	}
}
