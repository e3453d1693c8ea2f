package todo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// interpretations are the readings of the seed's history under test, each
// with its golden dump in testdata/seed.<name>.sql.
var interpretations = map[string]struct {
	schema string
	mats   map[string]string
}{
	"lww":       {todo.Schema, todo.LastWriterWins},
	"completed": {todo.Schema, todo.StaysCompleted},
	"churn":     {todo.Schema, todo.Churn},
	"fields":    {todo.FieldSchema, todo.Fields},
}

// line is one event of testdata/seed.events, with its author's signature
// when the export carried one.
type line struct {
	Event event.Event      `json:"event"`
	Sig   *event.Signature `json:"sig,omitempty"`
}

// seedHistory plays the seed's story on three replicas: item 1 is "make
// pasta" and completed, then, concurrently, renamed "cook" on one replica
// and un-completed on another; items 2 and 3 are added on the way. It
// returns the history as a batch exports it: events and signatures.
func seedHistory(t *testing.T) *sync.Batch {
	ctx := context.Background()
	clock := time.UnixMilli(1_700_000_000_000)
	open := func(i byte) *store.Store {
		s, err := store.Open(ctx, store.Options{
			Rand: bytes.NewReader(bytes.Repeat([]byte{i}, 32)),
			Now:  func() time.Time { clock = clock.Add(time.Second); return clock },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b, c := open(0xa), open(0xb), open(0xc)
	send := func(from, to *store.Store) {
		batch, err := from.ExportSince(ctx, nil)
		if err == nil {
			_, err = to.Import(ctx, batch)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	edit := func(s *store.Store, item, typ, value string) {
		if _, err := s.Append(ctx, item, typ, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	edit(a, "1", "create", `"make pasta"`)
	edit(a, "1", "set_completed", `true`)
	edit(b, "2", "create", `"clean"`)
	send(a, b)
	send(b, c)
	edit(b, "1", "set_content", `"cook"`)
	edit(c, "1", "set_completed", `false`)
	edit(c, "3", "create", `"write"`)
	edit(a, "3", "create", `"write (a)"`)
	edit(a, "3", "set_completed", `true`)
	for _, from := range []*store.Store{a, b, c} {
		send(from, a)
	}
	batch, err := a.ExportSince(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := sync.Decode(batch)
	if err != nil {
		t.Fatal(err)
	}
	return b2
}

func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "seed.events")
	if *update {
		var b bytes.Buffer
		h := seedHistory(t)
		for _, e := range h.Events {
			l := line{Event: e}
			if sig, ok := h.Signatures[e.ID]; ok {
				l.Sig = &sig
			}
			j, _ := json.Marshal(l)
			b.Write(append(j, '\n'))
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	evs := readEvents(t, path)
	for name, in := range interpretations {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, store.Options{Schema: in.schema, Materializers: in.mats})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.ImportBatch(ctx, evs); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := s.Dump(ctx, &got); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "seed."+name+".sql")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Fatalf("state differs from %s (go test -update rewrites it):\n%s", golden, diff(string(want), got.String()))
			}
		})
	}
}

func readEvents(t *testing.T, path string) *sync.Batch {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := &sync.Batch{Signatures: map[event.ID]event.Signature{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b.Events = append(b.Events, l.Event)
		if l.Sig != nil {
			b.Signatures[l.Event.ID] = *l.Sig
		}
	}
	return b
}

func diff(want, got string) string {
	var b strings.Builder
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}
