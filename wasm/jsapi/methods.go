package jsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

type method func(h *Host, ctx context.Context, args, data []byte) (any, []byte, error)

// methods are the calls JavaScript can make; jsbridge/factlog.js names
// the same ones.
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
	"watch":         watch,
	"unwatch":       unwatch,
	"reinterpret":   reinterpret,
	"connect":       connect,
	"disconnect":    disconnect,
}

// decode reads a method's JSON arguments.
func decode[T any](method string, args []byte) (T, error) {
	var v T
	if err := json.Unmarshal(args, &v); err != nil {
		return v, errArgs(method, err)
	}
	return v, nil
}

type openArgs struct {
	Name          string            `json:"name"`
	Schema        string            `json:"schema"`
	Materializers map[string]string `json:"materializers"`
	// Progress, if not 0, is the id under which rebuild progress is
	// notified; the caller picks it, since the store has no id yet.
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

type opened struct {
	DB        int    `json:"db"`
	Peer      string `json:"peer"`
	Persisted bool   `json:"persisted"`
	Warning   string `json:"warning,omitempty"`
}

func open(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[openArgs]("open", args)
	if err != nil {
		return nil, nil, err
	}
	var path, vfs, warning string
	persisted := false
	if a.Name != ":memory:" && a.Name != "" && h.Storage != nil {
		if path, vfs, persisted, warning, err = h.Storage(a.Name); err != nil {
			return nil, nil, err
		}
	}
	h.mu.Lock()
	h.next++
	id := h.next
	h.mu.Unlock()
	s, err := store.Open(ctx, store.Options{
		Path: path, VFS: vfs, Schema: a.Schema, Materializers: a.Materializers, Progress: h.progress(a.Progress),
	})
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	if h.stores == nil {
		h.stores = map[int]*store.Store{}
	}
	h.stores[id] = s
	h.mu.Unlock()
	return opened{DB: id, Peer: s.Peer().String(), Persisted: persisted, Warning: warning}, nil, nil
}

type dbArgs struct {
	DB int `json:"db"`
}

func closeStore(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[dbArgs]("close", args)
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	s := h.stores[a.DB]
	delete(h.stores, a.DB)
	for id, w := range h.watches {
		if w.db == a.DB {
			delete(h.watches, id)
		}
	}
	var links []*link.Link
	for id, l := range h.links {
		if l.db == a.DB {
			links = append(links, l.link)
			delete(h.links, id)
		}
	}
	h.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	if s == nil {
		return nil, nil, nil // closing twice is fine
	}
	return nil, nil, s.Close()
}

type appendArgs struct {
	DB     int `json:"db"`
	Events []struct {
		Item  string          `json:"item"`
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	} `json:"events"`
}

func appendEvents(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[appendArgs]("append", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	in := make([]store.Input, len(a.Events))
	for i, e := range a.Events {
		in[i] = store.Input{Item: e.Item, Type: e.Type, Value: e.Value}
	}
	evs, err := s.AppendMany(ctx, in)
	return evs, nil, err
}

type queryArgs struct {
	DB     int             `json:"db"`
	SQL    string          `json:"sql"`
	Params json.RawMessage `json:"params"`
	Watch  int             `json:"watch"`
}

// rows is a result as JavaScript gets it: column names and rows of values.
// A BLOB is {"$blob": base64}, which the bridge turns into a Uint8Array.
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
			if b, ok := v.([]byte); ok {
				row[i] = map[string]string{"$blob": base64.StdEncoding.EncodeToString(b)}
			}
		}
	}
	return out
}

// params decodes JSON parameters: a list, an object, or nothing.
func params(method string, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p any
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, errArgs(method, err)
	}
	switch p := p.(type) {
	case []any:
		return p, nil
	case map[string]any:
		return p, nil
	default:
		return nil, errArgs(method, errNotParams)
	}
}

var errNotParams = errors.New("parameters must be an array or an object")

func query(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[queryArgs]("query", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	p, err := params("query", a.Params)
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

type eventsArgs struct {
	DB   int     `json:"db"`
	Item *string `json:"item"`
}

func events(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[eventsArgs]("events", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	evs, err := s.Events(ctx, a.Item)
	if evs == nil {
		evs = []event.Event{}
	}
	return evs, nil, err
}

func heads(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[dbArgs]("heads", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	ids, err := s.Heads(ctx)
	if ids == nil {
		ids = []event.ID{}
	}
	return ids, nil, err
}

func versionVector(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[dbArgs]("versionVector", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	vv, err := s.VersionVector(ctx)
	return vv, nil, err
}

type exportArgs struct {
	DB int                `json:"db"`
	VV sync.VersionVector `json:"vv"`
}

func exportSince(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[exportArgs]("exportSince", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.ExportSince(ctx, a.VV)
	return nil, b, err
}

type imported struct {
	Added      int      `json:"added"`
	Pending    int      `json:"pending"`
	Duplicates int      `json:"duplicates"`
	Skipped    []Error  `json:"skipped"`
	Dropped    []string `json:"dropped"`
}

func importBatch(h *Host, ctx context.Context, args, data []byte) (any, []byte, error) {
	a, err := decode[dbArgs]("import", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	res, err := s.Import(ctx, data)
	if err != nil {
		return nil, nil, err
	}
	out := imported{Added: res.Added, Pending: res.Pending, Duplicates: res.Duplicates, Skipped: []Error{}, Dropped: []string{}}
	for _, m := range res.Skipped {
		out.Skipped = append(out.Skipped, Error{Code: store.CodeMaterializer, Message: m.Error()})
	}
	for _, d := range res.Dropped {
		out.Dropped = append(out.Dropped, d.Error())
	}
	return out, nil, nil
}

type pendingInfo struct {
	Events  int        `json:"events"`
	Bytes   int        `json:"bytes"`
	Missing []event.ID `json:"missing"`
}

func pending(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[dbArgs]("pending", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.Pending(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := pendingInfo{Events: p.Events, Bytes: p.Bytes, Missing: p.Missing}
	if out.Missing == nil {
		out.Missing = []event.ID{}
	}
	return out, nil, nil
}

func watch(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[queryArgs]("watch", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	p, err := params("watch", a.Params)
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	h.next++
	id := h.next
	h.mu.Unlock()
	stop, err := s.Watch(ctx, a.SQL, p, func(r *store.Rows, err error) {
		if err != nil {
			h.notify("watch", id, map[string]any{"error": Error{Code: store.Code(err), Message: err.Error()}})
			return
		}
		h.notify("watch", id, toRows(r))
	})
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	if h.watches == nil {
		h.watches = map[int]watchEntry{}
	}
	h.watches[id] = watchEntry{db: a.DB, stop: stop}
	h.mu.Unlock()
	return map[string]int{"watch": id}, nil, nil
}

type unwatchArgs struct {
	Watch int `json:"watch"`
}

func unwatch(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[unwatchArgs]("unwatch", args)
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	w, ok := h.watches[a.Watch]
	delete(h.watches, a.Watch)
	h.mu.Unlock()
	if ok {
		w.stop()
	}
	return nil, nil, nil
}

func reinterpret(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[struct {
		DB int `json:"db"`
		openArgs
	}]("reinterpret", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	return nil, nil, s.Reinterpret(ctx, a.Schema, a.Materializers, h.progress(a.Progress))
}

type connectArgs struct {
	DB    int    `json:"db"`
	URL   string `json:"url"`
	Token string `json:"token"`
}

func connect(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[connectArgs]("connect", args)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.store(a.DB)
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	h.next++
	id := h.next
	h.mu.Unlock()
	l, err := link.Start(s, link.Options{URL: a.URL, Token: a.Token, OnStatus: func(st link.Status) {
		h.notify("link", id, st)
	}})
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	if h.links == nil {
		h.links = map[int]linkEntry{}
	}
	h.links[id] = linkEntry{db: a.DB, link: l}
	h.mu.Unlock()
	return map[string]int{"link": id}, nil, nil
}

type disconnectArgs struct {
	Link int `json:"link"`
}

func disconnect(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[disconnectArgs]("disconnect", args)
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	l, ok := h.links[a.Link]
	delete(h.links, a.Link)
	h.mu.Unlock()
	if ok {
		l.link.Close()
	}
	return nil, nil, nil
}
