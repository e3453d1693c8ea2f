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

// flaky is a Conn whose queue is full while full is set: Send refuses.
type flaky struct {
	mu     sync.Mutex
	full   bool
	closed bool
	got    []protocol.Envelope
}

func (c *flaky) Send(msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		return false
	}
	e, err := protocol.Decode(msg)
	if err != nil {
		panic(err)
	}
	c.got = append(c.got, e)
	return true
}

func (c *flaky) Close(int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
}

// TestDroppedPublisherGetsNoAck: a member dropped because a delivery did
// not fit its queue gets nothing with a seq after it, its own publishes'
// acks included: the client's cursor is the last seq it received, and an
// ack past the missing delivery made it skip that body for good (it
// reconnected from the ack's seq).
func TestDroppedPublisherGetsNoAck(t *testing.T) {
	st := &heldStore{}
	h := NewHub(st, Limits{}, nil)
	other := joined(t, h, "r")
	slow := &flaky{}
	s, err := h.NewSession("r", ReadWrite, slow)
	if err != nil {
		t.Fatal(err)
	}
	defer s.End()
	if _, err := s.Handle(context.Background(), protocol.Encode(protocol.Envelope{Kind: protocol.Join})); err != nil {
		t.Fatal(err)
	}
	publish(other, context.Background(), 1, 10) // seq 1
	publish(s, context.Background(), 1, 10)     // seq 2, the slow member's
	slow.mu.Lock()
	slow.full = true
	slow.mu.Unlock()
	st.complete(0) // seq 1 does not fit the slow member's queue: dropped
	slow.mu.Lock()
	slow.full = false // its writer took the queue meanwhile
	slow.mu.Unlock()
	st.complete(1)
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if !slow.closed {
		t.Fatal("the member whose queue was full was not closed")
	}
	for _, e := range slow.got {
		if e.Cursor != 0 {
			t.Fatalf("after seq 1 did not fit, the dropped member was sent %v with seq %d: its cursor skips seq 1", e.Kind, e.Cursor)
		}
	}
}
