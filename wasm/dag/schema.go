// Package dag keeps the event DAG in SQLite: the events, their links, the
// heads (maintained, never scanned), each author's chain tips and highest
// seq, the signatures that prove who wrote what, the forks seen, and the
// pending set of events that wait for their parents or for a signature.
//
// It decides whether an event joins the log: its parents exist, its clock
// is 1 + the largest parent clock, its seq is 1 + the largest seq of its
// parents by the same author, and a verified signature of its author's
// covers it — its own, or one over a later event of the author's chain.
// Two events with one (author, seq) are a fork: both join, as concurrent
// events, and the fork is recorded. Every decision depends only on the
// event, its ancestors and their signatures, so all replicas decide alike.
//
// The seed's tables, event and event_dag, are views over compact tables
// (ids as 32-byte BLOBs, links as row numbers, item ids and types stored
// once and named by their row), so the seed's queries work
// as they are while a log costs a fraction of the bytes.
//
// A Graph works inside its caller's transaction and, like the db.Conn it
// uses, is not safe for concurrent use.
package dag

import (
	"errors"
	"fmt"

	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// Root is the parent_id the seed gives an event without parents, so that
// the seed's leaves query and causal traversal (which start from 'ROOT')
// work on the store as they are.
const Root = "ROOT"

// Checkpoint is how often an author's chain keeps a signature: every
// Checkpoint-th seq, besides the chain's tips. A batch split into chunks
// carries them, so that a chunk's events wait for the next chunk's
// signature no more than Checkpoint events per author.
const Checkpoint = 128

// ErrFormat rejects a database made by a factlog whose event format this
// one cannot read.
var ErrFormat = errors.New("the store was made by an older factlog")

// logTables are the event log's tables, without their indexes.
const logTables = `
-- Item ids and event types, each stored once: the log names each by its
-- row, which takes a byte or two where the text took ten or more, in the
-- event table and in the item index.
CREATE TABLE IF NOT EXISTS _factlog_name (
	x    INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS _factlog_event (
	n       INTEGER PRIMARY KEY,     -- the order of storing, local to this store
	id      BLOB NOT NULL,           -- SHA-256 of the canonical encoding
	a       INTEGER NOT NULL,        -- the author (_factlog_author)
	seq     INTEGER NOT NULL,
	clock   INTEGER NOT NULL,
	time    INTEGER NOT NULL,        -- author's wall clock, Unix ms
	item    INTEGER NOT NULL,        -- the item id (_factlog_name)
	type    INTEGER NOT NULL,        -- the event type (_factlog_name)
	value   TEXT NOT NULL,           -- canonical JSON (RFC 8785)
	parents                          -- (no type: kept as given) n minus the parent's n; for several, a JSON array of them; NULL without parents
);
`

// schema creates factlog's tables, whose names start with _factlog_, and
// the seed's views over them (with the seed's names).
const schema = logTables + `
CREATE TABLE IF NOT EXISTS _factlog_author (
	a   INTEGER PRIMARY KEY,
	key BLOB NOT NULL UNIQUE,        -- the author's Ed25519 public key, its peer id
	seq INTEGER NOT NULL DEFAULT 0   -- the highest seq stored
);
-- Ids are found by their first 4 bytes: an index of those costs a fifth of
-- one of the 32-byte ids, and a shared prefix (about one pair in four
-- billion) is told apart by the id.
CREATE INDEX IF NOT EXISTS _factlog_event_key ON _factlog_event (substr(id, 1, 4));
CREATE INDEX IF NOT EXISTS _factlog_event_clock ON _factlog_event (clock); -- ties (concurrent events) are few: sorted by id as read
CREATE INDEX IF NOT EXISTS _factlog_event_author ON _factlog_event (a, seq);
CREATE INDEX IF NOT EXISTS event_item ON _factlog_event (item);

CREATE TABLE IF NOT EXISTS _factlog_head (n INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS _factlog_tip (a INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (a, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _factlog_sig (n INTEGER PRIMARY KEY, sig BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS _factlog_fork (a INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (a, seq)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS _factlog_pending (
	id       BLOB PRIMARY KEY NOT NULL,
	enc      BLOB NOT NULL,    -- canonical encoding (event.Decode)
	sig      BLOB,             -- the author's signature over it, if one came
	covered  INTEGER NOT NULL, -- 1 once a verified signature covers it
	received INTEGER NOT NULL  -- local Unix ms, only for expiry
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _factlog_pending_received ON _factlog_pending (received);
CREATE TABLE IF NOT EXISTS _factlog_pending_need (
	need BLOB NOT NULL, -- a missing parent
	id   BLOB NOT NULL, -- the pending event that waits for it
	PRIMARY KEY (need, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _factlog_pending_need_id ON _factlog_pending_need (id);

CREATE VIEW IF NOT EXISTS event AS
	SELECT lower(hex(e.id)) AS id, lower(hex(k.key)) AS peer, e.seq, e.clock, e.time, i.name AS item_id, t.name AS type, e.value
	FROM _factlog_event e JOIN _factlog_author k ON k.a = e.a JOIN _factlog_name i ON i.x = e.item JOIN _factlog_name t ON t.x = e.type;
CREATE VIEW IF NOT EXISTS event_dag AS
	SELECT lower(hex(p.id)) AS parent_id, lower(hex(c.id)) AS event_id
	FROM _factlog_event c JOIN json_each(c.parents) l JOIN _factlog_event p ON p.n = c.n - l.value
	UNION ALL
	SELECT 'ROOT', lower(hex(c.id)) FROM _factlog_event c WHERE c.parents IS NULL;
`

// Init creates the DAG's tables if they do not exist, and brings a store
// of the format before names were interned (format 2) to this one. A
// database whose event table is a table (format 1, before signed events)
// is refused with ErrFormat.
func Init(c *db.Conn) error {
	var kind string
	var named, relative bool
	err := c.Query(`SELECT (SELECT type FROM main.sqlite_schema WHERE name = 'event'),
		EXISTS (SELECT 1 FROM main.sqlite_schema WHERE name = '_factlog_name'),
		EXISTS (SELECT 1 FROM pragma_table_info('_factlog_event') WHERE name = 'k')`, nil,
		func(s *sqlite3.Stmt) error {
			kind, named, relative = s.ColumnText(0), s.ColumnBool(1), s.ColumnBool(2)
			return nil
		})
	if err != nil {
		return fmt.Errorf("create dag tables: %w", err)
	}
	switch {
	case kind != "" && kind != "view":
		return fmt.Errorf("%w: its events (format 1: random peer ids, no signatures) cannot join a log of signed events; delete it, or open it with the factlog that made it", ErrFormat)
	case kind != "" && named: // made already: opening a store need not parse the schema again
		return nil
	case kind != "":
		if err := c.Script(intern(relative)); err != nil {
			return fmt.Errorf("intern the log's names (format 2 to 3): %w", err)
		}
	}
	if err := c.Script(schema); err != nil {
		return fmt.Errorf("create dag tables: %w", err)
	}
	return nil
}

// intern rewrites a log of format 2, which kept each event's item id and
// type as text, into the tables of format 3, keeping every row's n (links
// are differences of n, and the undo log knows events by their position).
// Format 2 linked an event to its parents by a JSON array of n minus each
// parent's n (relative, with a column of the id's first 8 bytes) or, in
// its first version, of the parents' n. The old indexes go first and
// schema makes them again after the rows are in; the views go last, after
// the rename (which checks every view, an application's over the seed's
// among them, and so needs the seed's to stand).
func intern(relative bool) string {
	links := `CASE WHEN json_array_length(e.parents) = 1 THEN e.n - (e.parents ->> 0)
		WHEN e.parents IS NOT NULL THEN (SELECT json_group_array(e.n - l.value) FROM json_each(e.parents) l) END`
	if relative {
		links = `CASE WHEN json_array_length(e.parents) = 1 THEN e.parents ->> 0 ELSE e.parents END`
	}
	return `
DROP INDEX IF EXISTS _factlog_event_id;
DROP INDEX IF EXISTS _factlog_event_order;
DROP INDEX IF EXISTS _factlog_event_key;
DROP INDEX IF EXISTS _factlog_event_clock;
DROP INDEX IF EXISTS _factlog_event_author;
DROP INDEX IF EXISTS event_item;
ALTER TABLE _factlog_event RENAME TO _factlog_event_2;
` + logTables + `
INSERT INTO _factlog_name (name) SELECT type FROM _factlog_event_2 UNION SELECT item_id FROM _factlog_event_2;
INSERT INTO _factlog_event (n, id, a, seq, clock, time, item, type, value, parents)
	SELECT e.n, e.id, e.a, e.seq, e.clock, e.time, i.x, t.x, e.value, ` + links + `
	FROM _factlog_event_2 e JOIN _factlog_name i ON i.name = e.item_id JOIN _factlog_name t ON t.name = e.type ORDER BY e.n;
DROP VIEW event;
DROP VIEW event_dag;
DROP TABLE _factlog_event_2;
`
}
