package sync

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/canon"
)

// Limits of the batch format. Like event limits they are protocol
// constants: a chunk one replica writes, every replica can read.
const (
	// MaxChunkEvents caps the events in one chunk.
	MaxChunkEvents = 10_000
	// MaxChunkBytes caps a chunk once decompressed.
	MaxChunkBytes = 16 << 20
	// MaxExpansion and ExpansionAllowance bound what a whole batch
	// decompresses to: MaxExpansion times its size, plus
	// ExpansionAllowance. A chunk's cap alone would let a batch of many
	// small chunks, each inflating a thousandfold, fill a replica's memory
	// from one relay frame. Events compress about 8 to 1 in a batch, and
	// Encode stores a chunk that would compress better than MaxExpansion
	// to 1 with Huffman coding alone, which cannot (so what it writes
	// always reads); the allowance keeps small batches of an earlier
	// encoder readable.
	MaxExpansion       = 32
	ExpansionAllowance = 4 << 20
	// MinChunkLimit is the smallest size limit EncodeChunks accepts: the
	// largest possible event must fit in a chunk.
	MinChunkLimit = 80 << 10

	// batchVersion 2 carries signatures; version 1 (before signed events)
	// is refused, since its events cannot be valid anymore.
	batchVersion = 2
)

// Batch is what replicas exchange: events, and the authors' signatures
// over some of them. A signature covers the event it signs and the
// author's chain below it; an event no signature covers yet waits.
type Batch struct {
	Events     []event.Event
	Signatures map[event.ID]event.Signature
}

// Tips returns the batch's tips: per author, the events of the batch no
// other event of the author's in the batch follows.
func (b *Batch) Tips() VersionVector {
	followed := make(map[event.ID]bool, len(b.Events))
	peers := make(map[event.ID]event.PeerID, len(b.Events))
	for i := range b.Events {
		peers[b.Events[i].ID] = b.Events[i].Peer
	}
	for i := range b.Events {
		for _, p := range b.Events[i].Parents {
			if peer, ok := peers[p]; ok && peer == b.Events[i].Peer {
				followed[p] = true
			}
		}
	}
	vv := VersionVector{}
	for i := range b.Events {
		if e := &b.Events[i]; !followed[e.ID] {
			vv.Add(e.Peer, Tip{Seq: e.Seq, ID: e.ID})
		}
	}
	return vv
}

// Errors about a batch as a whole; a *BatchError wraps one of them or
// event.ErrTooLarge / event.ErrNonCanonical.
var (
	ErrCorrupt = errors.New("corrupt batch")
	ErrVersion = errors.New("unsupported batch version")
)

// BatchError says which chunk of a batch could not be read and why.
type BatchError struct {
	Chunk  int
	Reason error
	Detail string
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch chunk %d: %v: %s", e.Chunk, e.Reason, e.Detail)
}

// Unwrap returns the reason, for errors.Is.
func (e *BatchError) Unwrap() error { return e.Reason }

// envelope frames one chunk. A batch is a CBOR sequence (RFC 8742) of
// envelopes, so batches concatenate and a reader needs no outer length.
type envelope struct {
	_       struct{} `cbor:",toarray"`
	Version uint64
	Data    []byte // zlib-compressed CBOR of a chunk
}

// chunk stores events column by column, in replay order, which is what
// makes the deltas small and the compressor effective.
type chunk struct {
	_         struct{} `cbor:",toarray"`
	Peers     [][]byte // distinct authors, in order of first use
	Types     []string // distinct types, in order of first use
	Items     []string // distinct items, in order of first use
	External  [][]byte // ids of parents outside the chunk, in order of first use
	Heads     [][]byte // ids of the events no later event in the chunk links, in chunk order
	Peer      []uint64 // per event: index into Peers
	SeqDelta  []int64  // per event: seq minus the author's previous seq in the chunk (or 0)
	TimeDelta []int64  // per event: time minus the previous event's time (or 0)
	Item      []uint64 // per event: index into Items
	Type      []uint64 // per event: index into Types
	Value     []string // per event: canonical JSON
	Parents   [][]int64
	// Parents, per event, in the event's (sorted) parent order:
	// n > 0 links the event n places earlier in the chunk;
	// n < 0 links External[-n-1].
	Clock []uint64 // clocks of the events with an External parent, in chunk order
	// Signed lists, ascending, the events whose author's signature
	// follows in Signatures (64 bytes each).
	Signed     []uint64
	Signatures [][]byte
}

var (
	encMode = canon.Enc
	decMode = canon.Dec(1 << 17)
)

// Encode returns the events as one batch, with those of sigs that sign
// them. The events may come in any order and may repeat; the batch holds
// each once, in replay order.
func Encode(events []event.Event, sigs map[event.ID]event.Signature) ([]byte, error) {
	chunks, err := EncodeChunks(events, sigs, 0)
	if err != nil {
		return nil, err
	}
	return bytes.Join(chunks, nil), nil
}

// EncodeChunks returns the events as chunks of at most maxBytes each (0
// means no byte limit; MaxChunkEvents always applies), each with the
// signatures of sigs over its events. Every chunk is a batch of its own,
// and their concatenation is one batch. Sending chunks in order lets a
// receiver apply each as it arrives; any order converges.
func EncodeChunks(events []event.Event, sigs map[event.ID]event.Signature, maxBytes int) ([][]byte, error) {
	if maxBytes != 0 && maxBytes < MinChunkLimit {
		return nil, fmt.Errorf("encode batch: chunk limit %d bytes is below the minimum %d", maxBytes, MinChunkLimit)
	}
	evs := slices.Clone(events)
	slices.SortFunc(evs, event.ReplayOrder)
	evs = slices.CompactFunc(evs, func(a, b event.Event) bool { return a.ID == b.ID })

	// The size estimate is an upper bound of the uncompressed chunk, and
	// zlib expands incompressible input by well under 1%, so keep 2% spare.
	// Without a limit a chunk is still kept within what Decode reads.
	limit := maxBytes
	if limit == 0 {
		limit = MaxChunkBytes
	}
	budget := limit - limit/50 - 64
	var out [][]byte
	for start := 0; start < len(evs); {
		end, size := start, 0
		for end < len(evs) && end-start < MaxChunkEvents {
			s := sizeBound(&evs[end])
			if end > start && size+s > budget {
				break
			}
			size += s
			end++
		}
		b, err := sealChunk(evs[start:end], sigs)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		start = end
	}
	return out, nil
}

// sizeBound bounds the bytes an event adds to an uncompressed chunk, its
// signature included.
func sizeBound(e *event.Event) int {
	return 64 + len(e.Value) + len(e.Item) + len(e.Type) + len(e.Parents)*(9+len(event.ID{})+2) + len(e.Peer) + 3 + 9 + len(event.Signature{}) + 2
}

func sealChunk(evs []event.Event, sigs map[event.ID]event.Signature) ([]byte, error) {
	raw, err := encMode.Marshal(buildChunk(evs, sigs))
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	z, err := compress(raw, zlib.DefaultCompression)
	if err == nil && len(raw) > MaxExpansion*len(z) {
		z, err = compress(raw, zlib.HuffmanOnly) // at most 8 to 1
	}
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	return encMode.Marshal(&envelope{Version: batchVersion, Data: z})
}

func compress(raw []byte, level int) ([]byte, error) {
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, level)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}

// buildChunk lays out events that are sorted and unique, and the
// signatures of sigs over them.
func buildChunk(evs []event.Event, sigs map[event.ID]event.Signature) *chunk {
	c := &chunk{
		Peer: make([]uint64, len(evs)), SeqDelta: make([]int64, len(evs)), TimeDelta: make([]int64, len(evs)),
		Item: make([]uint64, len(evs)), Type: make([]uint64, len(evs)), Value: make([]string, len(evs)),
		Parents: make([][]int64, len(evs)),
	}
	var (
		pos      = make(map[event.ID]int, len(evs))
		peers    = map[event.PeerID]int{}
		types    = map[string]int{}
		items    = map[string]int{}
		external = map[event.ID]int{}
		prevSeq  = map[event.PeerID]uint64{}
		linked   = make([]bool, len(evs))
		prevTime int64
	)
	for i := range evs {
		e := &evs[i]
		c.Peer[i] = uint64(index(peers, e.Peer, func() { c.Peers = append(c.Peers, e.Peer[:]) }))
		c.SeqDelta[i] = int64(e.Seq - prevSeq[e.Peer])
		prevSeq[e.Peer] = e.Seq
		c.TimeDelta[i] = e.Time - prevTime
		prevTime = e.Time
		c.Item[i] = uint64(index(items, e.Item, func() { c.Items = append(c.Items, e.Item) }))
		c.Type[i] = uint64(index(types, e.Type, func() { c.Types = append(c.Types, e.Type) }))
		c.Value[i] = string(e.Value)
		refs := make([]int64, len(e.Parents))
		outside := false
		for j, p := range e.Parents {
			if at, ok := pos[p]; ok {
				refs[j] = int64(i - at)
				linked[at] = true
				continue
			}
			refs[j] = -int64(1 + index(external, p, func() { c.External = append(c.External, p[:]) }))
			outside = true
		}
		c.Parents[i] = refs
		if outside {
			c.Clock = append(c.Clock, e.Clock)
		}
		pos[e.ID] = i
		if sig, ok := sigs[e.ID]; ok {
			c.Signed = append(c.Signed, uint64(i))
			c.Signatures = append(c.Signatures, sig[:])
		}
	}
	for i := range evs {
		if !linked[i] {
			c.Heads = append(c.Heads, evs[i].ID[:])
		}
	}
	return c
}

// index returns k's index in m, adding it (and calling add) when new.
func index[K comparable](m map[K]int, k K, add func()) int {
	i, ok := m[k]
	if !ok {
		i = len(m)
		m[k] = i
		add()
	}
	return i
}

// Decode returns the events of a batch in the order they were sent, with
// their ids recomputed and each event checked on its own (event.CheckFields),
// and the signatures it carries. Whether the signatures verify and the
// events fit a log is for the store to decide.
func Decode(b []byte) (*Batch, error) {
	out := &Batch{Signatures: map[event.ID]event.Signature{}}
	room := expansion{left: ExpansionAllowance + MaxExpansion*len(b), of: len(b)}
	for n := 0; len(b) > 0; n++ {
		var env envelope
		rest, err := decMode.UnmarshalFirst(b, &env)
		if err != nil {
			return nil, &BatchError{Chunk: n, Reason: ErrCorrupt, Detail: err.Error()}
		}
		if env.Version != batchVersion {
			return nil, &BatchError{Chunk: n, Reason: ErrVersion, Detail: fmt.Sprintf("version %d; this library reads version %d", env.Version, batchVersion)}
		}
		if again, _ := encMode.Marshal(&env); !bytes.Equal(again, b[:len(b)-len(rest)]) {
			return nil, &BatchError{Chunk: n, Reason: event.ErrNonCanonical, Detail: "chunk envelope is not canonical CBOR"}
		}
		err = openChunk(env.Data, &room, out)
		if err != nil {
			var be *BatchError
			if errors.As(err, &be) {
				be.Chunk = n
			}
			return nil, err
		}
		b = rest
	}
	return out, nil
}

// expansion is what the rest of a batch may decompress to.
type expansion struct {
	left int // bytes
	of   int // the batch's size
}

// openChunk adds a chunk's events and signatures to out.
func openChunk(data []byte, room *expansion, out *Batch) error {
	raw, err := inflate(data, room)
	if err != nil {
		return err
	}
	var c chunk
	if err := decMode.Unmarshal(raw, &c); err != nil {
		return corrupt("%v", err)
	}
	evs, err := c.events()
	if err != nil {
		return err
	}
	sigs, err := c.signatures(evs)
	if err != nil {
		return err
	}
	again, err := encMode.Marshal(buildChunk(evs, sigs))
	if err != nil || !bytes.Equal(again, raw) {
		return &BatchError{Reason: event.ErrNonCanonical, Detail: "chunk is not in canonical form (events in replay order, tables in order of first use, shortest CBOR)"}
	}
	out.Events = append(out.Events, evs...)
	maps.Copy(out.Signatures, sigs)
	return nil
}

// signatures returns the chunk's signatures by the id of the event each
// signs.
func (c *chunk) signatures(evs []event.Event) (map[event.ID]event.Signature, error) {
	if len(c.Signed) != len(c.Signatures) {
		return nil, corrupt("%d signed events and %d signatures", len(c.Signed), len(c.Signatures))
	}
	sigs := make(map[event.ID]event.Signature, len(c.Signed))
	for i, at := range c.Signed {
		if at >= uint64(len(evs)) || (i > 0 && at <= c.Signed[i-1]) {
			return nil, corrupt("signature %d: event %d out of range or out of order", i, at)
		}
		if len(c.Signatures[i]) != len(event.Signature{}) {
			return nil, corrupt("signature %d has %d bytes, want %d", i, len(c.Signatures[i]), len(event.Signature{}))
		}
		sigs[evs[at].ID] = event.Signature(c.Signatures[i])
	}
	return sigs, nil
}

func inflate(data []byte, room *expansion) ([]byte, error) {
	r := bytes.NewReader(data)
	zr, err := zlib.NewReader(r)
	if err != nil {
		return nil, corrupt("zlib: %v", err)
	}
	limit := min(MaxChunkBytes, room.left)
	raw, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, corrupt("zlib: %v", err)
	}
	switch {
	case len(raw) > MaxChunkBytes:
		return nil, &BatchError{Reason: event.ErrTooLarge, Detail: fmt.Sprintf("chunk expands beyond %d bytes", MaxChunkBytes)}
	case len(raw) > limit:
		return nil, &BatchError{Reason: event.ErrTooLarge, Detail: fmt.Sprintf("the batch's %d bytes expand beyond %d (%d times their size, plus %d), which no batch Encode writes does", room.of, room.of*MaxExpansion+ExpansionAllowance, MaxExpansion, ExpansionAllowance)}
	}
	room.left -= len(raw)
	if r.Len() != 0 {
		return nil, corrupt("%d bytes after the zlib stream", r.Len())
	}
	return raw, nil
}

func corrupt(format string, args ...any) error {
	return &BatchError{Reason: ErrCorrupt, Detail: fmt.Sprintf(format, args...)}
}

// events rebuilds the chunk's events, deriving seqs, times, clocks and ids,
// and checks them against the heads the chunk lists.
func (c *chunk) events() ([]event.Event, error) {
	n := len(c.Peer)
	switch {
	case n == 0:
		return nil, corrupt("empty chunk")
	case n > MaxChunkEvents:
		return nil, &BatchError{Reason: event.ErrTooLarge, Detail: fmt.Sprintf("%d events in a chunk, at most %d allowed", n, MaxChunkEvents)}
	case len(c.SeqDelta) != n || len(c.TimeDelta) != n || len(c.Item) != n || len(c.Type) != n || len(c.Value) != n || len(c.Parents) != n:
		return nil, corrupt("columns of different lengths")
	}
	for _, b := range c.Peers {
		if len(b) != len(event.PeerID{}) {
			return nil, corrupt("peer id of %d bytes", len(b))
		}
	}
	for _, b := range slices.Concat(c.External, c.Heads) {
		if len(b) != len(event.ID{}) {
			return nil, corrupt("event id of %d bytes", len(b))
		}
	}
	// The parents of all the events in one allocation (bounded: an event
	// with too many is refused below).
	refCount := 0
	for _, refs := range c.Parents {
		refCount += min(len(refs), event.MaxParents)
	}
	parents := make([]event.ID, refCount)
	evs := make([]event.Event, n)
	prevSeq := make([]uint64, len(c.Peers))
	linked := make([]bool, n)
	var prevTime int64
	clocks := c.Clock
	for i := range evs {
		e := &evs[i]
		p, it, ty := c.Peer[i], c.Item[i], c.Type[i]
		if p >= uint64(len(c.Peers)) || it >= uint64(len(c.Items)) || ty >= uint64(len(c.Types)) {
			return nil, corrupt("event %d: table index out of range", i)
		}
		copy(e.Peer[:], c.Peers[p])
		e.Seq = prevSeq[p] + uint64(c.SeqDelta[i])
		prevSeq[p] = e.Seq
		e.Time = prevTime + c.TimeDelta[i]
		prevTime = e.Time
		e.Item, e.Type, e.Value = c.Items[it], c.Types[ty], []byte(c.Value[i])
		refs := c.Parents[i]
		if len(refs) > event.MaxParents {
			return nil, e.Invalid(event.ErrTooLarge, "chunk event %d has %d parents, at most %d allowed", i, len(refs), event.MaxParents)
		}
		e.Parents, parents = parents[:len(refs):len(refs)], parents[len(refs):]
		var inside uint64
		outside := false
		for j, r := range refs {
			switch {
			case r > 0 && r <= int64(i):
				at := i - int(r)
				e.Parents[j] = evs[at].ID
				inside = max(inside, evs[at].Clock)
				linked[at] = true
			case r < 0 && -r-1 < int64(len(c.External)):
				copy(e.Parents[j][:], c.External[-r-1])
				outside = true
			default:
				return nil, corrupt("event %d: parent reference %d out of range", i, r)
			}
		}
		switch {
		case outside:
			if len(clocks) == 0 {
				return nil, corrupt("event %d: missing clock", i)
			}
			e.Clock, clocks = clocks[0], clocks[1:]
		case len(refs) == 0:
			e.Clock, e.Parents = 1, nil
		default:
			e.Clock = inside + 1
		}
		e.ID = e.Hash()
		if e.Clock <= inside {
			return nil, e.Invalid(event.ErrClock, "clock %d is not above parent clock %d", e.Clock, inside)
		}
		if err := e.CheckFields(); err != nil {
			return nil, err
		}
		if i > 0 && event.Compare(&evs[i-1], e) >= 0 {
			return nil, &BatchError{Reason: event.ErrNonCanonical, Detail: fmt.Sprintf("event %d is not after event %d in replay order, or repeats it", i, i-1)}
		}
	}
	if len(clocks) != 0 {
		return nil, corrupt("%d clocks more than events with outside parents", len(clocks))
	}
	heads := c.Heads
	for i := range evs {
		if linked[i] {
			continue
		}
		if len(heads) == 0 {
			return nil, evs[i].Invalid(event.ErrHash, "chunk lists fewer heads than it has")
		}
		if !bytes.Equal(heads[0], evs[i].ID[:]) {
			return nil, evs[i].Invalid(event.ErrHash, "chunk lists head %x, but the events hash to %s: a byte was changed or an id forged", heads[0], evs[i].ID)
		}
		heads = heads[1:]
	}
	if len(heads) != 0 {
		return nil, corrupt("%d heads more than the chunk has", len(heads))
	}
	return evs, nil
}
