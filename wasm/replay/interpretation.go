// Package replay turns the event log into application state: it runs the
// application's materializers (SQL per event type) over the events in
// replay order, (clock, id), inside SQLite.
//
// Events that sort after everything applied are applied directly. An event
// that sorts into the past (from a replica that was offline) rewinds the
// state to its clock and re-applies from there: AFTER triggers on every
// state table record each changed row's previous image, tagged with the
// clock of the event that changed it, in a shadow table; rewinding to clock
// c restores, per row, the oldest image tagged c or later. The cost grows
// with the number of events after the insertion point, not with the log —
// or, where every event involved reaches only its item's row (Reach), with
// the number of those items' events: RewindItems restores those rows alone.
//
// When the schema or the materializers change (a stored fingerprint tells),
// the state tables are dropped, created anew and rebuilt from the whole log.
//
// An Engine works inside its caller's transaction and is not safe for
// concurrent use.
package replay

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
)

// Interpretation is how an application reads its log.
type Interpretation struct {
	// Schema creates the state tables (and their indexes and views). The
	// tables hold only state derived from events: factlog drops and
	// rebuilds them when the interpretation changes.
	Schema string
	// Materializers maps an event type to the SQL statements (separated
	// by semicolons) that apply one event of that type. The statements
	// see the event as the parameters :id :peer :seq :clock :time :item
	// :type :value (value as JSON text for objects and arrays, as a
	// native SQLite value for scalars: TEXT, INTEGER or REAL, 1/0 for
	// true/false, NULL for null). The type "*" runs for every event, after
	// the type's own statements. An empty string declares a type that
	// changes nothing. Events of other types, which can arrive from
	// replicas that run a newer interpretation, are kept and change
	// nothing; a replica appends only the types it declares.
	Materializers map[string]string
}

// engineVersion changes when the way events are applied changes, so stores
// rebuild their state with the new engine.
const engineVersion = "factlog replay 2"

// Fingerprint identifies the interpretation: a store whose stored
// fingerprint differs rebuilds its state.
func (in Interpretation) Fingerprint() string {
	h := sha256.New()
	write := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	write(engineVersion)
	write(in.Schema)
	for _, t := range slices.Sorted(maps.Keys(in.Materializers)) {
		write(t)
		write(in.Materializers[t])
	}
	return hex.EncodeToString(h.Sum(nil))
}
