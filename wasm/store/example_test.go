package store_test

import (
	"context"
	"fmt"
	"log"

	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// Three replicas edit the same todo while apart, then sync: they agree,
// and the log still knows what happened.
func Example() {
	ctx := context.Background()
	open := func(i int) *store.Store {
		s, err := store.Open(ctx, store.Options{
			Schema: todo.Schema, Materializers: todo.LastWriterWins,
			Rand: peerSeed(i), Now: fakeClock(),
		})
		if err != nil {
			log.Fatal(err)
		}
		return s
	}
	a, b, c := open(1), open(2), open(3)
	defer a.Close()
	defer b.Close()
	defer c.Close()

	a.Append(ctx, "1", "create", []byte(`"make pasta"`))
	a.Append(ctx, "1", "set_completed", []byte(`true`))
	sync := func(from, to *store.Store) {
		vv, _ := to.VersionVector(ctx)
		batch, _ := from.ExportSince(ctx, vv)
		if _, err := to.Import(ctx, batch); err != nil {
			log.Fatal(err)
		}
	}
	sync(a, b)
	sync(a, c)
	// Offline, b renames the todo and c un-completes it.
	b.Append(ctx, "1", "set_content", []byte(`"cook"`))
	c.Append(ctx, "1", "set_completed", []byte(`false`))
	for _, from := range []*store.Store{a, b, c} {
		for _, to := range []*store.Store{a, b, c} {
			if from != to {
				sync(from, to)
			}
		}
	}
	for _, s := range []*store.Store{a, b, c} {
		rows, _ := s.Query(ctx, `SELECT id, content, completed FROM todo`)
		fmt.Println(rows.Values)
	}
	item := "1"
	history, _ := a.Events(ctx, &item)
	for _, e := range history {
		fmt.Printf("clock %d: %s %s\n", e.Clock, e.Type, e.Value)
	}
	// Output:
	// [[1 cook 0]]
	// [[1 cook 0]]
	// [[1 cook 0]]
	// clock 1: create "make pasta"
	// clock 2: set_completed true
	// clock 3: set_content "cook"
	// clock 3: set_completed false
}

// The same events read another way: a completed todo stays completed.
func ExampleStore_Reinterpret() {
	ctx := context.Background()
	s, _ := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins, Rand: peerSeed(1), Now: fakeClock()})
	defer s.Close()
	s.Append(ctx, "1", "create", []byte(`"make pasta"`))
	s.Append(ctx, "1", "set_completed", []byte(`true`))
	s.Append(ctx, "1", "set_completed", []byte(`false`))
	show := func() {
		rows, _ := s.Query(ctx, `SELECT content, completed FROM todo`)
		fmt.Println(rows.Values)
	}
	show()
	err := s.Reinterpret(ctx, todo.Schema, todo.StaysCompleted, func(done, total int) {
		fmt.Printf("rebuilt %d of %d events\n", done, total)
	})
	if err != nil {
		log.Fatal(err)
	}
	show()
	// Output:
	// [[make pasta 0]]
	// rebuilt 3 of 3 events
	// [[make pasta 1]]
}

// The seed's own SQL works on the store: its query for the DAG's leaves,
// and its recursive walk of event_dag from 'ROOT'. The walk's level is not
// a total order (concurrent events share a level, and a merge can be
// reached at several levels); factlog replays in (clock, id) order.
func Example_seedQueries() {
	ctx := context.Background()
	a, _ := store.Open(ctx, store.Options{Rand: peerSeed(1), Now: fakeClock()})
	b, _ := store.Open(ctx, store.Options{Rand: peerSeed(2), Now: fakeClock()})
	defer a.Close()
	defer b.Close()
	a.Append(ctx, "1", "create", []byte(`"make pasta"`))
	batch, _ := a.ExportSince(ctx, nil)
	b.Import(ctx, batch)
	a.Append(ctx, "1", "set_completed", []byte(`true`))
	b.Append(ctx, "1", "set_content", []byte(`"cook"`))
	batch, _ = b.ExportSince(ctx, nil)
	a.Import(ctx, batch)

	leaves, _ := a.Query(ctx, `SELECT DISTINCT e.type FROM event_dag AS l JOIN event AS e ON e.id = l.event_id
		WHERE NOT EXISTS (SELECT NULL FROM event_dag AS r WHERE r.parent_id = l.event_id) ORDER BY e.type`)
	fmt.Println("leaves:", leaves.Values)

	walk, _ := a.Query(ctx, `WITH RECURSIVE after_node(event_id, level) AS (
		VALUES ('ROOT', 0)
		UNION ALL
		SELECT event_dag.event_id, after_node.level + 1
		  FROM event_dag JOIN after_node ON event_dag.parent_id = after_node.event_id
		 ORDER BY 2, 1 DESC
	) SELECT DISTINCT after_node.level, event.type FROM after_node JOIN event ON after_node.event_id = event.id ORDER BY 1, 2`)
	fmt.Println("walk:", walk.Values)
	// Output:
	// leaves: [[set_completed] [set_content]]
	// walk: [[1 create] [2 set_completed] [2 set_content]]
}
