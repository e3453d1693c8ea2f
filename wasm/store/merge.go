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
	// Seen holds the batch's tips, whether its events were new or not:
	// what a relay link learns the room holds.
	Seen sync.VersionVector
	// Dropped are earlier pending events that proved invalid once their
	// parents arrived; they are discarded.
	Dropped []error
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
	res := &ImportResult{Seen: b.Tips()}
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
		res.Added, res.Duplicates, res.Pending, res.Refused, res.Dropped = len(in.Added), in.Duplicates, in.Pending, in.Refused, in.Dropped
		if len(in.Added) == 0 {
			return nil
		}
		added := in.Added
		slices.SortFunc(added, func(a, b event.Event) int { return event.Compare(&a, &b) })
		if !had || added[0].Pos().Compare(last) > 0 {
			// Everything new sorts after the state: apply it as it is —
			// and, in a long catch-up, without undo records for what
			// will be below the horizon when it is in.
			if len(added) > s.opts.UndoHorizon/4 {
				if err := s.trimTo(); err != nil {
					return err
				}
			}
			for i := range added {
				if err := s.apply(&added[i], res); err != nil {
					return err
				}
			}
			return s.trim()
		}
		// Something new sorts into the past: undo the state back to its
		// clock and re-apply every event from there, old and new — or,
		// past the undo log's horizon, rebuild it from the whole log.
		// A rebuild also wins when most of the log would be re-applied:
		// it restores nothing and records undo entries only within the
		// horizon.
		from := added[0].Clock
		total, err := s.g.CountFrom(from)
		if err != nil {
			return err
		}
		all, err := s.g.Len()
		if err != nil {
			return err
		}
		if 2*total > all {
			return s.rebuild(s.opts.Progress, res)
		}
		err = s.r.Rewind(from)
		if errors.Is(err, replay.ErrHorizon) {
			return s.rebuild(s.opts.Progress, res)
		}
		if err != nil {
			return err
		}
		done := 0
		err = s.g.Scan(from, func(e *event.Event) error {
			done++
			if s.opts.Progress != nil && total >= 1000 && (done%1000 == 0 || done == total) {
				s.opts.Progress(done, total)
			}
			return s.apply(e, res)
		})
		if err != nil {
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
