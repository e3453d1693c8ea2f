package jsapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

type method func(h *Host, ctx context.Context, args, data []byte) (any, []byte, error)

// methods are the calls JavaScript can make; jsbridge/factlog.js names
// the same ones. (registers.go adds the registers'.)
var methods = map[string]method{
	"open":          open,
	"close":         closeStore,
	"append":        appendEvents,
	"query":         query,
	"events":        events,
	"heads":         heads,
	"versionVector": versionVector,
	"exportSince":   exportSince,
	"import":        importBatch,
	"pending":       pending,
	"forks":         forks,
	"watch":         watch,
	"unwatch":       unwatch,
	"reinterpret":   reinterpret,
	"connect":       connect,
	"disconnect":    disconnect,
}

type interpretation struct {
	Schema        string            `json:"schema"`
	Materializers map[string]string `json:"materializers"`
	// Progress, if not 0, is the id under which rebuild progress is
	// notified; the caller picks it, since a store has no id yet when it
	// opens.
	Progress int `json:"progress"`
}

// progress returns a rebuild progress callback that notifies id, or nil.
func (h *Host) progress(id int) func(done, total int) {
	if id == 0 {
		return nil
	}
	return func(done, total int) {
		h.notify("progress", id, map[string]int{"done": done, "total": total})
	}
}

func open(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		Name string `json:"name"`
		interpretation
	}
	if err := decode("open", args, &a); err != nil {
		return nil, nil, err
	}
	path, vfs, persisted, warning, err := h.place(a.Name)
	if err != nil {
		return nil, nil, err
	}
	s, err := store.Open(ctx, store.Options{
		Path: path, VFS: vfs, Schema: a.Schema, Materializers: a.Materializers, Progress: h.progress(a.Progress),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := resolve(ctx, s); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	id := h.add(func(id int) { put(&h.stores, id, s) })
	return map[string]any{"db": id, "peer": s.Peer().String(), "persisted": persisted, "warning": warning}, nil, nil
}

func closeStore(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		DB int `json:"db"`
	}
	if err := decode("close", args, &a); err != nil {
		return nil, nil, err
	}
	s, ok := take(h, h.stores, a.DB)
	if !ok {
		return nil, nil, nil // closing twice is fine
	}
	h.mu.Lock()
	delete(h.requests, a.DB)
	var links []*link.Link
	for id, l := range h.links {
		if l.db == a.DB {
			links = append(links, l.v)
			delete(h.links, id)
		}
	}
	for id, w := range h.watches {
		if w.db == a.DB {
			delete(h.watches, id)
		}
	}
	h.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	return nil, nil, s.Close()
}

func appendEvents(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		dbArg
		// Request, if set, makes the append idempotent (requests.go);
		// Retry says that it may have been sent before.
		Request string `json:"request"`
		Retry   bool   `json:"retry"`
		Events  []struct {
			Item  string          `json:"item"`
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"events"`
	}
	s, err := h.storeArgs("append", args, &a)
	if err != nil {
		return nil, nil, err
	}
	in := make([]store.Input, len(a.Events))
	for i, e := range a.Events {
		in[i] = store.Input{Item: e.Item, Type: e.Type, Value: e.Value}
	}
	evs, err := h.journal(*a.DB).appendKeyed(ctx, s, a.Request, a.Retry, in)
	if err != nil {
		return nil, nil, err
	}
	b := append(make([]byte, 0, 400*len(evs)), '[')
	for i, e := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
	}
	return encoded(append(b, ']')), nil, nil
}

// rows is a result as JavaScript gets it: column names and rows of values.
// A BLOB is {"$blob": base64}, which the bridge turns into a Uint8Array,
// and an INTEGER that a JavaScript number cannot hold exactly (2^53 + 1,
// not 2^53) is {"$int": digits}, which it turns into a BigInt: a number
// that came from JavaScript always comes back a number.
type rows struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

func toRows(r *store.Rows) rows {
	out := rows{Columns: r.Columns, Rows: r.Values}
	if out.Rows == nil {
		out.Rows = [][]any{}
	}
	for _, row := range out.Rows {
		for i, v := range row {
			switch v := v.(type) {
			case []byte:
				row[i] = map[string]string{"$blob": base64.StdEncoding.EncodeToString(v)}
			case int64:
				if f := float64(v); f >= 1<<63 || int64(f) != v {
					row[i] = map[string]string{"$int": strconv.FormatInt(v, 10)}
				}
			}
		}
	}
	return out
}

type queryArgs struct {
	SQL    string          `json:"sql"`
	Params json.RawMessage `json:"params"`
}

// params decodes the parameters (a list, an object, or nothing); the
// store checks them against the statement.
func (a queryArgs) params(method string) (any, error) {
	var p any
	if len(a.Params) != 0 && string(a.Params) != "null" {
		d := json.NewDecoder(bytes.NewReader(a.Params))
		d.UseNumber() // an integer stays one (sqlValues)
		if err := d.Decode(&p); err != nil {
			return nil, store.ArgumentError(fmt.Sprintf("%s: %v", method, err))
		}
		switch p.(type) {
		case []any, map[string]any:
		default:
			return nil, store.ArgumentError(method + ": parameters must be an array or an object")
		}
	}
	return sqlValues(method, p)
}

func query(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		dbArg
		queryArgs
	}
	s, err := h.storeArgs("query", args, &a)
	if err != nil {
		return nil, nil, err
	}
	p, err := a.params("query")
	if err != nil {
		return nil, nil, err
	}
	var r *store.Rows
	if m, ok := p.(map[string]any); ok {
		r, err = s.QueryNamed(ctx, a.SQL, m)
	} else {
		list, _ := p.([]any)
		r, err = s.Query(ctx, a.SQL, list...)
	}
	if err != nil {
		return nil, nil, err
	}
	return toRows(r), nil, nil
}

// nonNil makes an empty result a JSON array, not null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func events(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		dbArg
		Item *string `json:"item"`
	}
	s, err := h.storeArgs("events", args, &a)
	if err != nil {
		return nil, nil, err
	}
	evs, err := s.Events(ctx, a.Item)
	return nonNil(evs), nil, err
}

func heads(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	s, err := h.storeArgs("heads", args, &dbArg{})
	if err != nil {
		return nil, nil, err
	}
	ids, err := s.Heads(ctx)
	return nonNil(ids), nil, err
}

func versionVector(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	s, err := h.storeArgs("versionVector", args, &dbArg{})
	if err != nil {
		return nil, nil, err
	}
	vv, err := s.VersionVector(ctx)
	return vv, nil, err
}

func exportSince(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		dbArg
		VV sync.VersionVector `json:"vv"`
	}
	s, err := h.storeArgs("exportSince", args, &a)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.ExportSince(ctx, a.VV)
	return nil, b, err
}

func importBatch(h *Host, ctx context.Context, args, data []byte) (any, []byte, error) {
	s, err := h.storeArgs("import", args, &dbArg{})
	if err != nil {
		return nil, nil, err
	}
	res, err := s.Import(ctx, data)
	if err != nil {
		return nil, nil, err
	}
	out := struct {
		Added      int      `json:"added"`
		Pending    int      `json:"pending"`
		Duplicates int      `json:"duplicates"`
		Refused    int      `json:"refused"`
		Reapplied  int      `json:"reapplied"`
		Skipped    []Error  `json:"skipped"`
		Dropped    []string `json:"dropped"`
	}{res.Added, res.Pending, res.Duplicates, res.Refused, res.Reapplied, []Error{}, []string{}}
	for _, m := range res.Skipped {
		out.Skipped = append(out.Skipped, asError(m))
	}
	for _, d := range res.Dropped {
		out.Dropped = append(out.Dropped, d.Error())
	}
	return out, nil, nil
}

func pending(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	s, err := h.storeArgs("pending", args, &dbArg{})
	if err != nil {
		return nil, nil, err
	}
	p, err := s.Pending(ctx)
	if err != nil {
		return nil, nil, err
	}
	return struct {
		Events   int        `json:"events"`
		Bytes    int        `json:"bytes"`
		Unsigned int        `json:"unsigned"`
		Missing  []event.ID `json:"missing"`
	}{p.Events, p.Bytes, p.Unsigned, nonNil(p.Missing)}, nil, nil
}

func forks(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	s, err := h.storeArgs("forks", args, &dbArg{})
	if err != nil {
		return nil, nil, err
	}
	f, err := s.Forks(ctx)
	return nonNil(f), nil, err
}

// notifyKey reads the key under which a watch or a link notifies: the
// caller picks it, so that it can listen before the first notification,
// which may come before the call returns.
func notifyKey(method, what string, key int) error {
	if key <= 0 {
		return store.ArgumentError(fmt.Sprintf("%s: %s must be a positive notification key", method, what))
	}
	return nil
}

func watch(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		dbArg
		Watch int `json:"watch"`
		queryArgs
	}
	s, err := h.storeArgs("watch", args, &a)
	if err != nil {
		return nil, nil, err
	}
	if err := notifyKey("watch", "watch", a.Watch); err != nil {
		return nil, nil, err
	}
	p, err := a.params("watch")
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	_, taken := h.watches[a.Watch]
	if !taken {
		put(&h.watches, a.Watch, owned[func()]{*a.DB, func() {}}) // reserved
	}
	h.mu.Unlock()
	if taken {
		return nil, nil, store.ArgumentError(fmt.Sprintf("watch: key %d is in use", a.Watch))
	}
	stop, err := s.Watch(ctx, a.SQL, p, func(r *store.Rows, err error) {
		if err != nil {
			h.notify("watch", a.Watch, map[string]any{"error": asError(err)})
			return
		}
		h.notify("watch", a.Watch, toRows(r))
	})
	h.mu.Lock()
	_, kept := h.watches[a.Watch] // unwatch or close may have come meanwhile
	if err == nil && kept {
		h.watches[a.Watch] = owned[func()]{*a.DB, stop}
	} else {
		delete(h.watches, a.Watch)
	}
	h.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if !kept {
		stop()
	}
	return map[string]int{"watch": a.Watch}, nil, nil
}

func unwatch(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		Watch int `json:"watch"`
	}
	if err := decode("unwatch", args, &a); err != nil {
		return nil, nil, err
	}
	if w, ok := take(h, h.watches, a.Watch); ok {
		w.v()
	}
	return nil, nil, nil
}

func reinterpret(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		dbArg
		interpretation
	}
	s, err := h.storeArgs("reinterpret", args, &a)
	if err != nil {
		return nil, nil, err
	}
	return nil, nil, s.Reinterpret(ctx, a.Schema, a.Materializers, h.progress(a.Progress))
}

func connect(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		dbArg
		URL   string `json:"url"`
		Token string `json:"token"`
		Link  int    `json:"link"`
	}
	s, err := h.storeArgs("connect", args, &a)
	if err != nil {
		return nil, nil, err
	}
	if err := notifyKey("connect", "link", a.Link); err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	_, taken := h.links[a.Link]
	h.mu.Unlock()
	if taken {
		return nil, nil, store.ArgumentError(fmt.Sprintf("connect: key %d is in use", a.Link))
	}
	opts := link.Options{URL: a.URL, Token: a.Token, OnStatus: func(st link.Status) {
		h.notify("link", a.Link, st)
	}}
	if h.Dial != nil {
		opts.Dial = h.Dial(a.Link)
	}
	l, err := link.Start(s, opts)
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	put(&h.links, a.Link, owned[*link.Link]{*a.DB, l})
	h.mu.Unlock()
	return map[string]int{"link": a.Link}, nil, nil
}

func disconnect(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		Link int `json:"link"`
	}
	if err := decode("disconnect", args, &a); err != nil {
		return nil, nil, err
	}
	if l, ok := take(h, h.links, a.Link); ok {
		l.v.Close()
	}
	return nil, nil, nil
}
