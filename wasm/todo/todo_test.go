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

// seedHistory plays the seed's story on three replicas: item 1 is "make
// pasta" and completed, then, concurrently, renamed "cook" on one replica
// and un-completed on another; items 2 and 3 are added on the way.
func seedHistory(t *testing.T) []event.Event {
	ctx := context.Background()
	clock := time.UnixMilli(1_700_000_000_000)
	open := func(i byte) *store.Store {
		s, err := store.Open(ctx, store.Options{
			Rand: bytes.NewReader(bytes.Repeat([]byte{i}, 16)),
			Now:  func() time.Time { clock = clock.Add(time.Second); return clock },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b, c := open(0xa), open(0xb), open(0xc)
	sync := func(from, to *store.Store) {
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
	sync(a, b)
	sync(b, c)
	edit(b, "1", "set_content", `"cook"`)
	edit(c, "1", "set_completed", `false`)
	edit(c, "3", "create", `"write"`)
	edit(a, "3", "create", `"write (a)"`)
	edit(a, "3", "set_completed", `true`)
	for _, from := range []*store.Store{a, b, c} {
		sync(from, a)
	}
	evs, err := a.Events(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "seed.events")
	if *update {
		var b bytes.Buffer
		for _, e := range seedHistory(t) {
			line, _ := json.Marshal(e)
			b.Write(append(line, '\n'))
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
			if _, err := s.ImportEvents(ctx, evs); err != nil {
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

func readEvents(t *testing.T, path string) []event.Event {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []event.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		evs = append(evs, e)
	}
	return evs
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
