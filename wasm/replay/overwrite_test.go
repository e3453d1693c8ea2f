package replay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"pgregory.net/rapid"
)

func overwriteEvent(seq int, typ, item, value string) event.Event {
	ev := event.Event{Peer: event.PeerID{1}, Seq: uint64(seq), Clock: uint64(2 * seq), Item: item, Type: typ, Value: []byte(value)}
	ev.ID = ev.Hash()
	return ev
}

// TestSuperseded: an event is skipped only where a later one surely
// overwrites every column it writes, on its row, and nothing reads them.
func TestSuperseded(t *testing.T) {
	const schema = `
		CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, content TEXT NOT NULL DEFAULT '', done INTEGER, note ANY);
		CREATE TABLE strict (id TEXT PRIMARY KEY, v INTEGER) STRICT;
		CREATE TABLE checked (id TEXT PRIMARY KEY, v ANY CHECK (v != 'x'));
		CREATE TABLE generated (id TEXT PRIMARY KEY, v ANY, g AS (json_extract(v, '$.a')));
		CREATE TABLE indexed (id TEXT PRIMARY KEY, v ANY);
		CREATE INDEX indexed_v ON indexed (json_extract(v, '$.a'));
		CREATE TABLE partial (id TEXT PRIMARY KEY, v ANY);
		CREATE INDEX partial_v ON partial (v) WHERE v > 0;
		CREATE TABLE nocase (id TEXT PRIMARY KEY COLLATE NOCASE, v ANY);
		CREATE TABLE log (v ANY);`
	content := `UPDATE todo SET content = :value WHERE id = :item`
	type ev struct{ typ, item, value string }
	for _, tc := range []struct {
		name string
		mats map[string]string
		evs  []ev
		want []bool
	}{
		{"a later write of the column", map[string]string{"c": content},
			[]ev{{"c", "a", `"1"`}, {"c", "a", `"2"`}, {"c", "a", `"3"`}}, []bool{true, true, false}},
		{"another item's", map[string]string{"c": content},
			[]ev{{"c", "a", `"1"`}, {"c", "b", `"2"`}}, []bool{false, false}},
		{"quoted names, constants, OR IGNORE", map[string]string{"c": `update or ignore "todo" set [content] = 'x', done = -1, note = :clock where :item == id;`},
			[]ev{{"c", "a", `"1"`}, {"c", "a", `"2"`}}, []bool{true, false}},
		{"a later write of some of its columns", map[string]string{"both": `UPDATE todo SET content = :value, done = :value WHERE id = :item`, "c": content, "d": `UPDATE todo SET done = 1 WHERE id = :item`},
			[]ev{{"both", "a", `"1"`}, {"c", "a", `"2"`}, {"both", "a", `"3"`}, {"c", "a", `"4"`}}, []bool{true, true, false, false}},
		{"later writes of all its columns", map[string]string{"both": `UPDATE todo SET content = :value, done = :value WHERE id = :item`, "c": content, "d": `UPDATE todo SET done = 1 WHERE id = :item`},
			[]ev{{"both", "a", `"1"`}, {"c", "a", `"2"`}, {"both", "a", `"3"`}, {"c", "a", `"4"`}, {"d", "a", `1`}}, []bool{true, true, true, false, false}},
		{"two statements", map[string]string{"c": content + `; UPDATE todo SET note = :time WHERE id = :item`, "d": `UPDATE todo SET note = :value WHERE id = :item`},
			[]ev{{"c", "a", `"1"`}, {"d", "a", `2`}, {"c", "a", `"3"`}, {"d", "a", `4`}}, []bool{true, true, false, false}},
		{"the catch-all's statement too", map[string]string{"c": content, "*": `UPDATE todo SET note = :value WHERE id = :item`},
			[]ev{{"c", "a", `"1"`}, {"other", "a", `"2"`}, {"c", "a", `"3"`}}, []bool{true, true, false}},
		{"the catch-all reads", map[string]string{"c": content, "*": `INSERT INTO log (v) VALUES (:value)`},
			[]ev{{"c", "a", `"1"`}, {"c", "a", `"2"`}}, []bool{false, false}},
		// What a write might not do: fail on null, meet a constraint.
		{"null in a NOT NULL column", map[string]string{"c": content},
			[]ev{{"c", "a", `null`}, {"c", "a", `"1"`}, {"c", "a", `null`}}, []bool{false, false, false}},
		{"null in a column that takes it", map[string]string{"n": `UPDATE todo SET note = :value WHERE id = :item`},
			[]ev{{"n", "a", `null`}, {"n", "a", `null`}}, []bool{true, false}},
		{"a STRICT table", map[string]string{"s": `UPDATE strict SET v = :value WHERE id = :item`},
			[]ev{{"s", "a", `1`}, {"s", "a", `"x"`}}, []bool{false, false}},
		{"a CHECK", map[string]string{"s": `UPDATE checked SET v = :value WHERE id = :item`},
			[]ev{{"s", "a", `1`}, {"s", "a", `"x"`}}, []bool{false, false}},
		{"a generated column", map[string]string{"s": `UPDATE generated SET v = :value WHERE id = :item`},
			[]ev{{"s", "a", `1`}, {"s", "a", `"x"`}}, []bool{false, false}},
		{"an index on an expression", map[string]string{"s": `UPDATE indexed SET v = :value WHERE id = :item`},
			[]ev{{"s", "a", `1`}, {"s", "a", `"x"`}}, []bool{false, false}},
		{"a partial index", map[string]string{"s": `UPDATE partial SET v = :value WHERE id = :item`},
			[]ev{{"s", "a", `1`}, {"s", "a", `2`}}, []bool{false, false}},
		{"a key for several items", map[string]string{"s": `UPDATE nocase SET v = :value WHERE id = :item`},
			[]ev{{"s", "a", `1`}, {"s", "A", `2`}}, []bool{false, false}},
		// What is not an overwrite, or is read.
		{"an expression", map[string]string{"c": `UPDATE todo SET content = upper(:value) WHERE id = :item`},
			[]ev{{"c", "a", `"1"`}, {"c", "a", `"2"`}}, []bool{false, false}},
		{"NULL", map[string]string{"n": `UPDATE todo SET note = NULL WHERE id = :item`},
			[]ev{{"n", "a", `1`}, {"n", "a", `2`}}, []bool{false, false}},
		{"a read of the column", map[string]string{"c": content, "r": `INSERT INTO log (v) SELECT content FROM todo WHERE id = :item`},
			[]ev{{"c", "a", `"1"`}, {"c", "a", `"2"`}}, []bool{false, false}},
		{"a read of the column by itself", map[string]string{"c": `UPDATE todo SET content = content || :value WHERE id = :item`},
			[]ev{{"c", "a", `"1"`}, {"c", "a", `"2"`}}, []bool{false, false}},
		{"a read of another column", map[string]string{"c": content, "r": `INSERT INTO log (v) SELECT done FROM todo WHERE id = :item`},
			[]ev{{"c", "a", `"1"`}, {"c", "a", `"2"`}, {"r", "a", `0`}}, []bool{true, false, false}},
		{"a create is not an overwrite", map[string]string{"c": content, "new": `INSERT OR REPLACE INTO todo (id, content) VALUES (:item, :value)`},
			[]ev{{"c", "a", `"1"`}, {"new", "a", `"2"`}, {"c", "a", `"3"`}, {"new", "a", `"4"`}}, []bool{true, false, false, false}},
		{"a row update of every row", map[string]string{"c": content, "all": `UPDATE todo SET content = :value`},
			[]ev{{"c", "a", `"1"`}, {"all", "a", `"2"`}}, []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, e := openEngine(t, Interpretation{Schema: schema, Materializers: tc.mats})
			var evs []event.Event
			for i, ev := range tc.evs {
				evs = append(evs, overwriteEvent(i+1, ev.typ, ev.item, ev.value))
			}
			if got := e.Superseded(evs); !slices.Equal(got, tc.want) {
				t.Errorf("Superseded = %v, want %v", got, tc.want)
			}
		})
	}
}

// overwritePool holds statements for the property below: overwrites of
// NOT NULL and nullable columns, writes that read, creates and deletes,
// and statements that read the columns others overwrite.
var overwritePool = []string{
	`UPDATE todo SET content = :value WHERE id = :item`,
	`UPDATE todo SET done = :value, note = 'x' WHERE id = :item`,
	`UPDATE todo SET note = :clock WHERE id = :item`,
	`UPDATE todo SET done = :value WHERE id = :item`,
	`UPDATE todo SET done = coalesce(done, 0) + 1 WHERE id = :item`,
	`UPDATE todo SET content = :value || '!' WHERE id = :item`,
	`INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
	`INSERT OR REPLACE INTO todo (id, content) VALUES (:item, 'r')`,
	`DELETE FROM todo WHERE id = :item`,
	`INSERT INTO log (k, v) SELECT id, content FROM todo WHERE id = :item`,
	`INSERT INTO log (k, v) SELECT id, note FROM todo`,
	`INSERT INTO log (k, v) VALUES (:item, :value)`,
}

const overwriteSchema = `
	CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, content TEXT NOT NULL DEFAULT '', done INTEGER, note ANY);
	CREATE TABLE log (k TEXT, v ANY);`

// TestSupersededState is the merge rule's property: applying a run of
// events but for the superseded ones — and rewinding into the run and
// re-applying, after late events arrive — leaves the state every event
// applied in order leaves, and no skipped event is one that would have
// failed.
func TestSupersededState(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mats := map[string]string{}
		for _, typ := range []string{"t0", "t1", "t2", "t3"} {
			stmts := rapid.SliceOfN(rapid.SampledFrom(overwritePool), 1, 2).Draw(rt, typ)
			mats[typ] = strings.Join(stmts, "; ")
		}
		in := Interpretation{Schema: overwriteSchema, Materializers: mats}
		draw := func(label string, seq int) event.Event {
			return overwriteEvent(seq,
				rapid.SampledFrom([]string{"t0", "t1", "t2", "t3"}).Draw(rt, label+" type"),
				rapid.SampledFrom([]string{"a", "b"}).Draw(rt, label+" item"),
				rapid.SampledFrom([]string{`"x"`, `1`, `null`, `true`, `{"a":1}`}).Draw(rt, label+" value"))
		}
		n := rapid.IntRange(1, 40).Draw(rt, "events")
		var log []event.Event
		for i := range n {
			log = append(log, draw("event", i+1))
		}
		// The replica: the log in runs, then late events (odd clocks, so
		// they sort between) in rounds, each a rewind and a re-application.
		c, e := openOwnEngine(rt, in)
		defer c.Close()
		defer e.Close()
		skipped := map[event.ID]bool{}
		applyRuns := func(evs []event.Event) {
			for len(evs) > 0 {
				k := rapid.IntRange(1, len(evs)).Draw(rt, "run")
				for i, skip := range e.Superseded(evs[:k]) {
					if skip {
						skipped[evs[i].ID] = true
						continue
					}
					var mat *MaterializeError
					if err := c.Tx(func() error { return e.Apply(&evs[i]) }); err != nil && !errors.As(err, &mat) {
						rt.Fatal(err)
					}
				}
				evs = evs[k:]
			}
		}
		applyRuns(log)
		for round := range rapid.IntRange(0, 3).Draw(rt, "rounds") {
			late := rapid.SliceOfN(rapid.IntRange(0, n), 1, 3).Draw(rt, fmt.Sprint("late ", round))
			from := uint64(2*n + 2)
			for i, at := range late {
				ev := draw("late", at)
				ev.Seq, ev.Clock = uint64(100*(round+1)+i), uint64(2*at+1)
				ev.ID = ev.Hash()
				log = append(log, ev)
				from = min(from, ev.Clock)
			}
			slices.SortStableFunc(log, event.ReplayOrder)
			if err := c.Tx(func() error { return e.Rewind(from) }); err != nil {
				rt.Fatal(err)
			}
			at, _ := slices.BinarySearchFunc(log, from, func(ev event.Event, clock uint64) int { return int(ev.Clock) - int(clock) })
			applyRuns(log[at:])
		}
		// Every event applied in order.
		c0, e0 := openOwnEngine(rt, in)
		defer c0.Close()
		defer e0.Close()
		failed := map[event.ID]bool{}
		for i := range log {
			var mat *MaterializeError
			if err := c0.Tx(func() error { return e0.Apply(&log[i]) }); errors.As(err, &mat) {
				failed[log[i].ID] = true
			} else if err != nil {
				rt.Fatal(err)
			}
		}
		for id := range skipped {
			if failed[id] {
				rt.Fatalf("event %s was skipped, but fails when applied", id)
			}
		}
		dump := func(c *db.Conn) string {
			return dumpQueries(t, c, `SELECT rowid, id, content, done, note FROM todo ORDER BY rowid`, `SELECT rowid, k, v FROM log ORDER BY rowid`)
		}
		if got, want := dump(c), dump(c0); got != want {
			rt.Fatalf("materializers %q: state with skips\n%s\nwant\n%s", mats, got, want)
		}
	})
}
