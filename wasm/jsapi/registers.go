package jsapi

import (
	"context"
	"encoding/json"
	"errors"

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

func openRegisters(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		Name    string   `json:"name"`
		Table   string   `json:"table"`
		Columns []string `json:"columns"`
	}
	if err := decode("openRegisters", args, &a); err != nil {
		return nil, nil, err
	}
	path, vfs, persisted, warning, err := h.place(a.Name)
	if err != nil {
		return nil, nil, err
	}
	r, err := lww.Open(ctx, lww.Options{Path: path, VFS: vfs, Table: a.Table, Columns: a.Columns})
	if err != nil {
		return nil, nil, asArgument(err)
	}
	id := h.add(func(id int) { put(&h.registers, id, r) })
	return map[string]any{"registers": id, "persisted": persisted, "warning": warning}, nil, nil
}

// asArgument gives lww's errors about its arguments store's code.
func asArgument(err error) error {
	if errors.Is(err, lww.ErrArgument) || errors.Is(err, lww.ErrState) {
		return store.ArgumentError(err.Error())
	}
	return err
}

// registersArgs decodes arguments that name a table of registers.
func (h *Host) registersArgs(method string, args []byte, v handled) (*lww.Registers, error) {
	return handleArgs(h, &h.registers, method, args, v)
}

// register is a register as JavaScript sees it.
func register(r lww.Register) map[string]any {
	return map[string]any{"id": r.ID, "column": r.Column, "value": json.RawMessage(r.Value), "clock": r.Clock}
}

func regSet(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	var a struct {
		registersArg
		ID     string          `json:"id"`
		Column string          `json:"column"`
		Value  json.RawMessage `json:"value"`
		// Retry says that it may have been applied before (a tab's
		// leader went away unheard).
		Retry bool `json:"retry"`
	}
	r, err := h.registersArgs("registers.set", args, &a)
	if err != nil {
		return nil, nil, err
	}
	set := r.Set
	if a.Retry {
		set = r.SetAgain
	}
	reg, err := set(ctx, a.ID, a.Column, a.Value)
	if err != nil {
		return nil, nil, asArgument(err)
	}
	return register(reg), nil, nil
}

func regRows(h *Host, ctx context.Context, args, _ []byte) (any, []byte, error) {
	r, err := h.registersArgs("registers.rows", args, &registersArg{})
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
	r, err := h.registersArgs("registers.state", args, &registersArg{})
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
	r, err := h.registersArgs("registers.export", args, &registersArg{})
	if err != nil {
		return nil, nil, err
	}
	b, err := r.ExportState(ctx)
	return nil, b, err
}

func regMerge(h *Host, ctx context.Context, args, data []byte) (any, []byte, error) {
	r, err := h.registersArgs("registers.merge", args, &registersArg{})
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
	if err := decode("registers.close", args, &a); err != nil {
		return nil, nil, err
	}
	if r, ok := take(h, h.registers, a.Registers); ok {
		return nil, nil, r.Close()
	}
	return nil, nil, nil
}
