// Package dag keeps the event DAG in SQLite: the seed's event and event_dag
// tables, the heads (maintained, never scanned), each author's highest seq,
// and the pending set of events whose parents have not arrived yet.
//
// It decides whether an event joins the log: its parents exist, its clock
// is 1 + the largest parent clock, its seq follows its author's previous
// event, and no other event has its (peer, seq). Every decision depends only
// on the event and its ancestors, so all replicas decide alike.
//
// A Graph works inside its caller's transaction and, like the db.Conn it
// uses, is not safe for concurrent use.
package dag

import (
	"fmt"

	"github.com/factlog/factlog/wasm/internal/db"
)

// Root is the parent_id the seed gives an event without parents, so that
// the seed's leaves query and causal traversal (which start from 'ROOT')
// work on the store as they are.
const Root = "ROOT"

// schema creates the seed's tables (with its table and index names) and
// factlog's bookkeeping, whose names start with _factlog_.
const schema = `
CREATE TABLE IF NOT EXISTS event (
	id      TEXT PRIMARY KEY NOT NULL, -- hex SHA-256 of the canonical encoding
	peer    TEXT NOT NULL,             -- hex author id
	seq     INTEGER NOT NULL,
	clock   INTEGER NOT NULL,
	time    INTEGER NOT NULL,          -- author's wall clock, Unix ms
	item_id TEXT NOT NULL,
	type    TEXT NOT NULL,
	value   TEXT NOT NULL              -- canonical JSON
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_item ON event (item_id);
CREATE INDEX IF NOT EXISTS event_order ON event (clock, id);
CREATE UNIQUE INDEX IF NOT EXISTS event_author ON event (peer, seq);

CREATE TABLE IF NOT EXISTS event_dag (
	parent_id ANY NOT NULL,  -- a parent's id, or 'ROOT'
	event_id  TEXT NOT NULL,
	PRIMARY KEY (parent_id, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_dag_event ON event_dag (event_id);

CREATE TABLE IF NOT EXISTS _factlog_head (id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _factlog_peer (peer TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS _factlog_pending (
	id       TEXT PRIMARY KEY NOT NULL,
	peer     TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	enc      BLOB NOT NULL,    -- canonical encoding (event.Decode)
	received INTEGER NOT NULL  -- local Unix ms, only for expiry
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS _factlog_pending_author ON _factlog_pending (peer, seq);
CREATE INDEX IF NOT EXISTS _factlog_pending_received ON _factlog_pending (received);
CREATE TABLE IF NOT EXISTS _factlog_pending_need (
	need TEXT NOT NULL, -- a missing parent
	id   TEXT NOT NULL, -- the pending event that waits for it
	PRIMARY KEY (need, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _factlog_pending_need_id ON _factlog_pending_need (id);
`

// Init creates the DAG's tables if they do not exist.
func Init(c *db.Conn) error {
	if err := c.Script(schema); err != nil {
		return fmt.Errorf("create dag tables: %w", err)
	}
	return nil
}
