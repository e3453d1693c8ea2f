package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/factlog/factlog/wasm/event"
)

// Input is one event to append.
type Input struct {
	Item string
	Type string
	// Value is JSON; nil means null. It is stored in canonical form
	// (event.CanonicalValue).
	Value []byte
}

// Append adds a local event about item: its parents are the current heads
// (and this replica's previous event), its clock and seq follow them, its
// id is the hash of its content. The event and its effect on the state
// commit together; if a materializer fails, neither does.
func (s *Store) Append(ctx context.Context, item, typ string, value []byte) (event.Event, error) {
	evs, err := s.AppendMany(ctx, []Input{{Item: item, Type: typ, Value: value}})
	if err != nil {
		return event.Event{}, err
	}
	return evs[0], nil
}

// AppendMany appends several events in one transaction, each a child of
// the one before: all are stored, or none.
func (s *Store) AppendMany(ctx context.Context, inputs []Input) ([]event.Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Canonicalize before the transaction: bad JSON is the caller's
	// mistake and needs no rollback.
	evs := make([]event.Event, len(inputs))
	now := s.opts.Now().UnixMilli()
	for i, in := range inputs {
		if in.Type != "" && !s.r.Declares(in.Type) { // (an empty type is invalid, below)
			return nil, ArgumentError(fmt.Sprintf("append %q: the interpretation has no materializer for type %q, so the event would change nothing; "+
				"check the type's spelling, or declare it with an empty materializer (or a catch-all \"*\")", in.Item, in.Type))
		}
		v, err := event.CanonicalValue(in.Value)
		if err != nil {
			return nil, fmt.Errorf("append %s %q: %w", in.Type, in.Item, err)
		}
		evs[i] = event.Event{Peer: s.peer, Time: now, Item: in.Item, Type: in.Type, Value: v}
	}
	err = s.write(ctx, func() error {
		next, err := s.g.Next(s.peer)
		if err != nil {
			return err
		}
		for i := range evs {
			e := &evs[i]
			if i == 0 {
				e.Parents, e.Clock, e.Seq = next.Parents, next.Clock, next.Seq
			} else { // a child of the one before
				prev := &evs[i-1]
				e.Parents, e.Clock, e.Seq = []event.ID{prev.ID}, prev.Clock+1, prev.Seq+1
			}
			e.ID = e.Hash()
			if err := e.CheckFields(); err != nil {
				return err
			}
		}
		if err := s.g.Append(s.peer, next, evs); err != nil {
			return err
		}
		// (An event a later one overwrites is skipped: it cannot fail.)
		for i, skip := range s.r.Superseded(evs) {
			if !skip {
				if err := s.r.Apply(&evs[i]); err != nil {
					return err
				}
			}
		}
		s.sinceTrim += len(evs)
		return s.trim()
	})
	if err != nil {
		var invalid *event.InvalidError
		if errors.As(err, &invalid) {
			return nil, fmt.Errorf("append: %w", err)
		}
		return nil, fmt.Errorf("append: %w", s.c.Denial(err))
	}
	s.added()
	return evs, nil
}
