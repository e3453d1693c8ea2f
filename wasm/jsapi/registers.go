package jsapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/factlog/factlog/wasm/lww"
	"github.com/factlog/factlog/wasm/store"
)

func init() {
	methods["openRegisters"] = openRegisters
	methods["registers.set"] = regSet
	methods["registers.rows"] = regRows
	methods["registers.state"] = regState
	methods["registers.export"] = regExport
	methods["registers.merge"] = regMerge
	methods["registers.close"] = regClose
}

type registersArgs struct {
	Name    string   `json:"name"`
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
}

func openRegisters(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	a, err := decode[registersArgs]("openRegisters", args)
	if err != nil {
		return nil, nil, err
	}
	var path, vfs, warning string
	persisted := false
	if a.Name != ":memory:" && a.Name != "" && h.Storage != nil {
		if path, vfs, persisted, warning, err = h.Storage(a.Name); err != nil {
			return nil, nil, err
		}
	}
	r, err := lww.Open(ctx, lww.Options{Path: path, VFS: vfs, Table: a.Table, Columns: a.Columns})
	if err != nil {
		return nil, nil, asArgument(err)
	}
	h.mu.Lock()
	h.next++
	id := h.next
	if h.registers == nil {
		h.registers = map[int]*lww.Registers{}
	}
	h.registers[id] = r
	h.mu.Unlock()
	return map[string]any{"registers": id, "persisted": persisted, "warning": warning}, nil, nil
}

// asArgument gives lww's argument errors store's code.
func asArgument(err error) error {
	if err != nil && errorsIs(err, lww.ErrArgument, lww.ErrState) {
		return store.ArgumentError(err.Error())
	}
	return err
}

func (h *Host) registersOf(args []byte) (*lww.Registers, error) {
	var a struct {
		Registers int `json:"registers"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, errArgs("registers", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.registers[a.Registers]
	if !ok {
		return nil, fmt.Errorf("registers %d: %w", a.Registers, store.ErrClosed)
	}
	return r, nil
}

func regSet(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	r, err := h.registersOf(args)
	if err != nil {
		return nil, nil, err
	}
	a, err := decode[struct {
		ID     string          `json:"id"`
		Column string          `json:"column"`
		Value  json.RawMessage `json:"value"`
	}]("registers.set", args)
	if err != nil {
		return nil, nil, err
	}
	reg, err := r.Set(ctx, a.ID, a.Column, a.Value)
	if err != nil {
		return nil, nil, asArgument(err)
	}
	return register(reg), nil, nil
}

// register is a register as JavaScript sees it.
func register(r lww.Register) map[string]any {
	return map[string]any{"id": r.ID, "column": r.Column, "value": json.RawMessage(r.Value), "clock": r.Clock}
}

func regRows(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	r, err := h.registersOf(args)
	if err != nil {
		return nil, nil, err
	}
	cols, rs, err := r.Rows(ctx)
	if err != nil {
		return nil, nil, err
	}
	return toRows(&store.Rows{Columns: cols, Values: rs}), nil, nil
}

func regState(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	r, err := h.registersOf(args)
	if err != nil {
		return nil, nil, err
	}
	regs, err := r.State(ctx)
	out := make([]map[string]any, len(regs))
	for i, reg := range regs {
		out[i] = register(reg)
	}
	return out, nil, err
}

func regExport(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	r, err := h.registersOf(args)
	if err != nil {
		return nil, nil, err
	}
	b, err := r.ExportState(ctx)
	return nil, b, err
}

func regMerge(h *Host, ctx context.Context, args, data []byte) (any, []byte, error) {
	r, err := h.registersOf(args)
	if err != nil {
		return nil, nil, err
	}
	n, err := r.MergeState(ctx, data)
	if err != nil {
		return nil, nil, asArgument(err)
	}
	return map[string]int{"changed": n}, nil, nil
}

func regClose(h *Host, _ context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		Registers int `json:"registers"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, nil, errArgs("registers.close", err)
	}
	h.mu.Lock()
	r := h.registers[a.Registers]
	delete(h.registers, a.Registers)
	h.mu.Unlock()
	if r == nil {
		return nil, nil, nil
	}
	return nil, nil, r.Close()
}
