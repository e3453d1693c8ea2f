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
// (ids as 32-byte BLOBs, links as row numbers), so the seed's queries work
// as they are while a log costs a fraction of the bytes.
//
// A Graph works inside its caller's transaction and, like the db.Conn it
// uses, is not safe for concurrent use.
package dag

import (
	"errors"
	"fmt"

	"github.com/factlog/factlog/wasm/internal/db"
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

// schema creates factlog's tables, whose names start with _factlog_, and
// the seed's views over them (with the seed's names).
const schema = `
CREATE TABLE IF NOT EXISTS _factlog_author (
	a   INTEGER PRIMARY KEY,
	key BLOB NOT NULL UNIQUE,        -- the author's Ed25519 public key, its peer id
	seq INTEGER NOT NULL DEFAULT 0   -- the highest seq stored
);
CREATE TABLE IF NOT EXISTS _factlog_event (
	n       INTEGER PRIMARY KEY,     -- the order of storing, local to this store
	id      BLOB NOT NULL,           -- SHA-256 of the canonical encoding
	k       INTEGER NOT NULL,        -- the id's first 8 bytes: its index key
	a       INTEGER NOT NULL,        -- the author (_factlog_author)
	seq     INTEGER NOT NULL,
	clock   INTEGER NOT NULL,
	time    INTEGER NOT NULL,        -- author's wall clock, Unix ms
	item_id TEXT NOT NULL,
	type    TEXT NOT NULL,
	value   TEXT NOT NULL,           -- canonical JSON (RFC 8785)
	parents TEXT                     -- JSON array of n minus each parent's n; NULL without parents
);
-- Ids are found by a prefix: an index of 8-byte integers costs a third of
-- one of 32-byte blobs, and a rare shared prefix is told apart by the id.
CREATE INDEX IF NOT EXISTS _factlog_event_key ON _factlog_event (k);
CREATE INDEX IF NOT EXISTS _factlog_event_clock ON _factlog_event (clock); -- ties (concurrent events) are few: sorted by id as read
CREATE INDEX IF NOT EXISTS _factlog_event_author ON _factlog_event (a, seq);
CREATE INDEX IF NOT EXISTS event_item ON _factlog_event (item_id);

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
	SELECT lower(hex(e.id)) AS id, lower(hex(k.key)) AS peer, e.seq, e.clock, e.time, e.item_id, e.type, e.value
	FROM _factlog_event e JOIN _factlog_author k ON k.a = e.a;
CREATE VIEW IF NOT EXISTS event_dag AS
	SELECT lower(hex(p.id)) AS parent_id, lower(hex(c.id)) AS event_id
	FROM _factlog_event c JOIN json_each(c.parents) l JOIN _factlog_event p ON p.n = c.n - l.value
	UNION ALL
	SELECT 'ROOT', lower(hex(c.id)) FROM _factlog_event c WHERE c.parents IS NULL;
`

// Init creates the DAG's tables if they do not exist. A database whose
// event table is a table (the format before signed events) is refused
// with ErrFormat.
func Init(c *db.Conn) error {
	kind, ok, err := c.Text(`SELECT type FROM main.sqlite_schema WHERE name = 'event'`)
	if err != nil {
		return fmt.Errorf("create dag tables: %w", err)
	}
	if ok && kind != "view" {
		return fmt.Errorf("%w: its events (format 1: random peer ids, no signatures) cannot join a log of signed events; delete it, or open it with the factlog that made it", ErrFormat)
	}
	if ok { // made already: opening a store need not parse the schema again
		return nil
	}
	if err := c.Script(schema); err != nil {
		return fmt.Errorf("create dag tables: %w", err)
	}
	return nil
}
