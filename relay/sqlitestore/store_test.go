package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func appendWait(t *testing.T, s *Store, room string, body []byte) uint64 {
	t.Helper()
	done := make(chan uint64, 1)
	s.Append(room, body, func(seq uint64, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- seq
	})
	select {
	case seq := <-done:
		return seq
	case <-time.After(10 * time.Second):
		t.Fatal("append did not complete")
		return 0
	}
}

// TestPersistsAndRetains: seqs are gapless per room and survive a
// reopen, with the epoch; retention by age and by bytes keeps each room's
// last body.
func TestPersistsAndRetains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if seq := appendWait(t, s, "a", []byte{byte(i)}); seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", seq, i+1)
		}
	}
	appendWait(t, s, "b", []byte("bb"))
	epoch := s.Epoch()
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if st, _ := s.Stats(ctx, "a"); s.Epoch() != epoch || st.Last != 5 || st.First != 1 || st.Bytes != 5 {
		t.Fatalf("after reopen: epoch %s (was %s), stats %+v", s.Epoch(), epoch, st)
	}
	if seq := appendWait(t, s, "a", []byte{5}); seq != 6 {
		t.Fatalf("next seq after reopen %d, want 6", seq)
	}
	if n, err := s.Trim(ctx, time.Time{}, 3); err != nil || n != 3 {
		t.Fatalf("trim by bytes removed %d (%v), want 3", n, err)
	}
	if st, _ := s.Stats(ctx, "a"); st.First != 4 || st.Bytes != 3 {
		t.Fatalf("after trim by bytes: %+v", st)
	}
	if n, err := s.Trim(ctx, time.Now().Add(time.Hour), 0); err != nil || n != 2 {
		t.Fatalf("trim by age removed %d (%v), want 2 (the last body of each room stays)", n, err)
	}
	var seqs []uint64
	s.Read(ctx, "a", 0, 10, func(seq uint64, _ []byte) error { seqs = append(seqs, seq); return nil })
	if len(seqs) != 1 || seqs[0] != 6 {
		t.Fatalf("kept %v, want [6]", seqs)
	}
}
