package room

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/factlog/factlog/relay/protocol"
)

// heldStore keeps every Append waiting until the test completes it.
type heldStore struct {
	mu      sync.Mutex
	appends []func(uint64, error)
	bytes   int64
}

func (s *heldStore) Epoch() string { return "test" }
func (s *heldStore) Append(_ string, body []byte, done func(uint64, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appends = append(s.appends, done)
}
func (s *heldStore) Read(context.Context, string, uint64, uint64, func(uint64, []byte) error) error {
	return nil
}
func (s *heldStore) Stats(context.Context, string) (RoomStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return RoomStats{Bytes: s.bytes}, nil
}
func (s *heldStore) Trim(context.Context, time.Time, int64) (int, error) { return 0, nil }
func (s *heldStore) Close() error                                        { return nil }

func (s *heldStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.appends)
}

// complete stores the i-th append.
func (s *heldStore) complete(i int) {
	s.mu.Lock()
	done := s.appends[i]
	s.mu.Unlock()
	done(uint64(i+1), nil)
}

type sink struct{}

func (*sink) Send([]byte) bool  { return true }
func (*sink) Close(int, string) {}

func joined(t *testing.T, h *Hub, name string) *Session {
	t.Helper()
	s, err := h.NewSession(name, ReadWrite, &sink{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.End)
	if _, err := s.Handle(context.Background(), protocol.Encode(protocol.Envelope{Kind: protocol.Join})); err != nil {
		t.Fatal(err)
	}
	return s
}

func publish(s *Session, ctx context.Context, id uint64, size int) {
	s.Handle(ctx, protocol.Encode(protocol.Envelope{Kind: protocol.Publish, ID: id, Body: make([]byte, size)}))
}

// TestPendingPushesBack (issue 12, finding 1): a publish that would put
// more bytes on their way to the store than a room, or all rooms, may
// have waits — here until its context, already cancelled, ends — instead
// of queueing; one within both limits goes through at once.
func TestPendingPushesBack(t *testing.T) {
	const kb = 1 << 10
	st := &heldStore{}
	h := NewHub(st, Limits{RoomPending: 100 * kb, Pending: 150 * kb}, nil)
	a, b := joined(t, h, "a"), joined(t, h, "b")
	for i := range 3 {
		publish(a, context.Background(), uint64(i+1), 30*kb) // 90 KiB pending in a
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	publish(a, ctx, 4, 30*kb) // 120 KiB > 100: waits, and gives up
	if n := st.count(); n != 3 {
		t.Fatalf("%d appends, want 3: room a's fourth should wait", n)
	}
	publish(b, context.Background(), 1, 50*kb) // 140 KiB in all
	publish(b, ctx, 2, 20*kb)                  // 160 KiB > 150: waits, and gives up
	if n := st.count(); n != 4 {
		t.Fatalf("%d appends, want 4: the second of room b should wait", n)
	}
	st.complete(0) // a's first is stored: 30 KiB freed
	done := make(chan struct{})
	go func() {
		defer close(done)
		publish(a, context.Background(), 5, 30*kb)
	}()
	<-done
	if n := st.count(); n != 5 {
		t.Fatalf("%d appends after one was stored, want 5", n)
	}
}

// TestQuotaCountsPending (issue 12, finding 1): bytes on their way to
// the store count against the room's quota.
func TestQuotaCountsPending(t *testing.T) {
	st := &heldStore{}
	h := NewHub(st, Limits{MaxRoomBytes: 100 + 2*BodyOverhead}, nil)
	a := joined(t, h, "a")
	publish(a, context.Background(), 1, 60)
	publish(a, context.Background(), 2, 60) // 120 > 100 with the first still pending, BodyOverhead each
	if n := st.count(); n != 1 {
		t.Fatalf("%d bodies reached the store, want 1 within the quota", n)
	}
}

// TestBacklogsShareMemory: joins whose backlogs are being sent hold at
// most Limits.Backlogs together. A client that never reads keeps the next
// join waiting, not adding its own pages, until it is let go.
func TestBacklogsShareMemory(t *testing.T) {
	const frame = 64 << 10
	h := NewHub(&heldStore{}, Limits{Backlogs: 2*ReadPage + 2*frame}, nil)
	b := &Backlog{Welcome: protocol.Envelope{Kind: protocol.Welcome}, Room: "r"}
	sending, unblock := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- h.StreamBacklog(context.Background(), b, frame, func([]byte) error {
			close(sending)
			<-unblock // a client that does not read
			return nil
		})
	}()
	<-sending
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.StreamBacklog(ctx, b, frame, func([]byte) error { return nil }); err == nil {
		t.Fatal("a second backlog went out while the first held all the memory for backlogs")
	}
	close(unblock)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := h.StreamBacklog(context.Background(), b, frame, func([]byte) error { return nil }); err != nil {
		t.Fatalf("once the first let go: %v", err)
	}
}
