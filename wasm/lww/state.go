package lww

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/factlog/factlog/wasm/internal/canon"
)

// stateVersion is the first field of an exported state.
const stateVersion = 1

// maxState caps a state once decompressed.
const maxState = 64 << 20

// ErrState rejects bytes that are not an exported state.
var ErrState = errors.New("not a registers state")

// state is an export, column by column so that it compresses well.
type state struct {
	_       struct{} `cbor:",toarray"`
	Version uint64
	Table   string
	Columns []string // the table's columns; Col indexes them
	IDs     []string // distinct row ids, in order; ID indexes them
	ID      []uint64
	Col     []uint64
	Clock   []uint64
	Value   []string // canonical JSON
}

var (
	encMode = canon.Enc
	decMode = canon.Dec(1 << 24)
)

// ExportState returns every register, versioned, as compressed CBOR.
func (r *Registers) ExportState(ctx context.Context) ([]byte, error) {
	regs, err := r.State(ctx)
	if err != nil {
		return nil, err
	}
	st := state{Version: stateVersion, Table: r.table, Columns: r.cols}
	col := map[string]int{}
	for i, c := range r.cols {
		col[c] = i
	}
	for _, reg := range regs {
		if len(st.IDs) == 0 || st.IDs[len(st.IDs)-1] != reg.ID {
			st.IDs = append(st.IDs, reg.ID)
		}
		st.ID = append(st.ID, uint64(len(st.IDs)-1))
		st.Col = append(st.Col, uint64(col[reg.Column]))
		st.Clock = append(st.Clock, reg.Clock)
		st.Value = append(st.Value, string(reg.Value))
	}
	raw, err := encMode.Marshal(&st)
	if err != nil {
		return nil, err
	}
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(raw)
	w.Close()
	return z.Bytes(), nil
}

// DecodeState reads an exported state.
func DecodeState(b []byte) (table string, regs []Register, err error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxState+1))
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	if len(raw) > maxState {
		return "", nil, fmt.Errorf("%w: over %d bytes", ErrState, maxState)
	}
	var st state
	if err := decMode.Unmarshal(raw, &st); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	if st.Version != stateVersion {
		return "", nil, fmt.Errorf("%w: version %d, this library reads %d", ErrState, st.Version, stateVersion)
	}
	n := len(st.ID)
	if len(st.Col) != n || len(st.Clock) != n || len(st.Value) != n {
		return "", nil, fmt.Errorf("%w: columns of different lengths", ErrState)
	}
	regs = make([]Register, n)
	for i := range regs {
		if st.ID[i] >= uint64(len(st.IDs)) || st.Col[i] >= uint64(len(st.Columns)) {
			return "", nil, fmt.Errorf("%w: index out of range", ErrState)
		}
		regs[i] = Register{ID: st.IDs[st.ID[i]], Column: st.Columns[st.Col[i]], Clock: st.Clock[i], Value: []byte(st.Value[i])}
	}
	return st.Table, regs, nil
}

// MergeState merges an exported state of the same table.
func (r *Registers) MergeState(ctx context.Context, b []byte) (changed int, err error) {
	table, regs, err := DecodeState(b)
	if err != nil {
		return 0, err
	}
	if table != r.table {
		return 0, fmt.Errorf("%w: the state is of table %q, not %q", ErrArgument, table, r.table)
	}
	return r.Merge(ctx, regs)
}
