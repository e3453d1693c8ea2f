package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/replay"
	"github.com/factlog/factlog/wasm/sync"
)

// ImportResult says what an import did.
type ImportResult struct {
	// Added counts the events stored: new events of the batch whose
	// parents were present, and pending events they completed.
	Added int
	// Duplicates counts the batch's events that were already held.
	Duplicates int
	// Pending counts the batch's events that wait: for missing parents,
	// or for a signature of their author's that covers them (which a
	// later chunk of the same export carries).
	Pending int
	// Refused counts the batch's events that would wait for missing
	// parents but did not fit the pending set (Options.Pending): they are
	// not kept. Import their ancestors first, then send them again.
	Refused int
	// Seen holds the tips of the batch's events that are stored here
	// after the import, new or not: what a relay link learns the room
	// holds. An event that waits or was refused is not counted: it may
	// never join anywhere (unsigned, forged, its parents never sent), and
	// counted it would say the room holds what it does not.
	Seen sync.VersionVector
	// Dropped are earlier pending events that proved invalid once their
	// parents arrived; they are discarded.
	Dropped []error
	// Reapplied counts the events the state held before the import that
	// it undid and applied again, because new events sort before them:
	// the cost of a late merge. Only the events about the late events'
	// items are, when their types reach no further (see README).
	Reapplied int
	// Skipped are events whose materializer failed while this import
	// applied events (new or re-applied after a rewind). They stay in the
	// log without effect on the state, on every replica alike.
	Skipped []*replay.MaterializeError
}

// Import adds a batch (from ExportSince on another replica, or a relay)
// in one transaction: the new events, their effect on the state, and the
// events left waiting for parents. Importing is idempotent: duplicates,
// reordered and replayed batches change nothing.
//
// An invalid batch or event rejects the whole import with a *sync.BatchError
// or an *event.InvalidError that names the event and the rule it breaks;
// nothing stored changes.
func (s *Store) Import(ctx context.Context, batch []byte) (*ImportResult, error) {
	b, err := sync.Decode(batch) // recomputes ids and checks each event
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return s.ingest(ctx, b)
}

// ImportBatch is Import for a decoded batch. Each event is checked whole,
// its id included (event.Check).
func (s *Store) ImportBatch(ctx context.Context, b *sync.Batch) (*ImportResult, error) {
	for i := range b.Events {
		if err := b.Events[i].Check(); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	return s.ingest(ctx, b)
}

// ingest adds a batch of checked events.
func (s *Store) ingest(ctx context.Context, b *sync.Batch) (*ImportResult, error) {
	res := &ImportResult{}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	err = s.write(ctx, func() error {
		last, had, err := s.g.Last()
		if err != nil {
			return err
		}
		in, err := s.g.Ingest(b, s.opts.Now(), s.opts.Pending)
		if err != nil {
			return err
		}
		if res.Seen, err = s.seen(b, in.Added); err != nil {
			return err
		}
		res.Added, res.Duplicates, res.Pending, res.Refused, res.Dropped = len(in.Added), in.Duplicates, in.Pending, in.Refused, in.Dropped
		if len(in.Added) == 0 {
			return nil
		}
		added := in.Added
		slices.SortFunc(added, event.ReplayOrder)
		if !had || added[0].Pos().Compare(last) > 0 {
			// Everything new sorts after the state: apply it as it is —
			// and, in a long catch-up, without undo records for what
			// will be below the horizon when it is in.
			if len(added) > s.opts.UndoHorizon/4 {
				if err := s.trimTo(); err != nil {
					return err
				}
			}
			if err := s.applyRun(added, res, nil); err != nil {
				return err
			}
			return s.trim()
		}
		// Something new sorts into the past. If it is about a few items
		// whose events reach no other rows, rewind those rows alone;
		// otherwise undo the state back to its clock and re-apply every
		// event from there, old and new — or, past the undo log's
		// horizon, rebuild it from the whole log. A rebuild also wins
		// when most of the log would be re-applied: it restores nothing
		// and records undo entries only within the horizon.
		from := added[0].Clock
		total, err := s.g.CountFrom(from)
		if err != nil {
			return err
		}
		if done, err := s.mergeItems(added, last, total, res); done || err != nil {
			return err
		}
		all, err := s.g.Len()
		if err != nil {
			return err
		}
		rebuild := func() error {
			res.Reapplied = all - len(added) // everything held before
			return s.rebuild(s.opts.Progress, res)
		}
		if 2*total > all {
			return rebuild()
		}
		err = s.r.Rewind(from)
		if errors.Is(err, replay.ErrHorizon) {
			return rebuild()
		}
		if err != nil {
			return err
		}
		res.Reapplied = total - len(added)
		progress := s.opts.Progress
		if total < 1000 {
			progress = nil
		}
		if err := s.applyFrom(from, total, progress, res); err != nil {
			return err
		}
		return s.trim()
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if res.Added > 0 {
		s.added()
	}
	return res, nil
}

// seen returns the tips of b's events stored here: those added, and those
// of the rest that were stored before.
// (added may hold earlier waiting events that joined with them.)
func (s *Store) seen(b *sync.Batch, added []event.Event) (sync.VersionVector, error) {
	isAdded := make(map[event.ID]bool, len(added))
	for i := range added {
		isAdded[added[i].ID] = true
	}
	var rest []event.Event
	for i := range b.Events {
		if !isAdded[b.Events[i].ID] {
			rest = append(rest, b.Events[i])
		}
	}
	if len(rest) == 0 {
		return b.Tips(), nil
	}
	stored, err := s.g.Stored(rest)
	if err != nil {
		return nil, err
	}
	held := &sync.Batch{}
	for i := range b.Events {
		if id := b.Events[i].ID; isAdded[id] || stored[id] {
			held.Events = append(held.Events, b.Events[i])
		}
	}
	return held.Tips(), nil
}

// mergeItems merges added, sorted, some of which sort before last (where
// the state is), by rewinding only the rows of the late events' items and
// re-applying only those items' events — when the interpretation proves
// that is the same as re-applying everything from the first late event on
// (replay.Engine.RewindItems): every late event reaches at most its own
// row, and so does every event to re-apply, and no event from the first
// late one on reaches beyond its item. done is false, with nothing
// changed, where it cannot, or where the whole replay costs little more.
func (s *Store) mergeItems(added []event.Event, last event.Position, total int, res *ImportResult) (done bool, err error) {
	n := 0
	for n < len(added) && added[n].Pos().Compare(last) < 0 {
		n++
	}
	late, later := added[:n], added[n:]
	items := map[string]uint64{} // item → the clock to rewind its rows to
	for i := range late {
		switch s.r.Reach(late[i].Type) {
		case replay.ReachNone:
		case replay.ReachRow:
			if _, ok := items[late[i].Item]; !ok {
				items[late[i].Item] = late[i].Clock // the smallest: late is sorted
			}
		default:
			return false, nil
		}
	}
	from := added[0].Clock
	if from < s.r.Horizon() {
		return false, nil
	}
	if s.r.ReachesAll() {
		types, err := s.g.TypesFrom(from)
		if err != nil {
			return false, err
		}
		for _, typ := range types {
			if s.r.Reach(typ) == replay.ReachAll {
				return false, nil
			}
		}
	}
	// Re-applying more than half of what a full rewind would costs about
	// as much, with more work to find them.
	evs, ok, err := s.g.ItemEvents(items, last, total/2)
	if err != nil || !ok {
		return false, err
	}
	redo := evs[:0]
	for i := range evs {
		switch s.r.Reach(evs[i].Type) {
		case replay.ReachNone:
		case replay.ReachRow:
			redo = append(redo, evs[i])
		default:
			return false, nil
		}
	}
	clocks := make([]uint64, len(redo))
	for i := range redo {
		clocks[i] = redo[i].Clock
	}
	if err := s.r.RewindItems(items, clocks); err != nil {
		return false, err
	}
	isLate := make(map[event.ID]bool, len(late))
	for i := range late {
		isLate[late[i].ID] = true
	}
	for i := range redo {
		if !isLate[redo[i].ID] {
			res.Reapplied++
		}
	}
	if err := s.applyRun(slices.Concat(redo, later), res, nil); err != nil {
		return false, err
	}
	return true, s.trim()
}

// Runs of events are applied a window at a time: at most runEvents
// events, or runBytes of their values, are held at once.
const (
	runEvents = 16 << 10
	runBytes  = 8 << 20
)

// applyFrom applies the stored events from clock from on, in replay order
// (a rebuild, or a rewind's re-application), reporting progress (if not
// nil) every 1,000 events of total.
func (s *Store) applyFrom(from uint64, total int, progress func(done, total int), res *ImportResult) error {
	var run []event.Event
	size, done := 0, 0
	flush := func() error {
		err := s.applyRun(run, res, func() {
			done++
			if progress != nil && (done%1000 == 0 || done == total) {
				progress(done, total)
			}
		})
		run, size = run[:0], 0
		return err
	}
	err := s.g.Scan(from, func(e *event.Event) error {
		run = append(run, *e)
		if size += len(e.Value); len(run) < runEvents && size < runBytes {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	return err
}

// applyRun applies evs, consecutive events in replay order, but for those
// that a later one of them makes pointless (replay.Engine.Superseded),
// calling each (if not nil) after every event.
func (s *Store) applyRun(evs []event.Event, res *ImportResult, each func()) error {
	skip := s.r.Superseded(evs)
	for i := range evs {
		if skip[i] {
			s.sinceTrim++
		} else if err := s.apply(&evs[i], res); err != nil {
			return err
		}
		if each != nil {
			each()
		}
	}
	return nil
}

// apply runs an event's materializers during a merge or a rebuild: a
// failing materializer leaves the event without effect (res, if not nil,
// records it); any other error fails the transaction.
func (s *Store) apply(e *event.Event, res *ImportResult) error {
	s.sinceTrim++
	err := s.r.Apply(e)
	var mat *replay.MaterializeError
	if errors.As(err, &mat) {
		if res != nil {
			res.Skipped = append(res.Skipped, mat)
		}
		return nil
	}
	return err
}
