package jsapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/factlog/factlog/wasm/store"
)

// sqlValues turns the {"$blob": base64} the bridge sends for a Uint8Array
// into bytes, its {"$int": digits} for a BigInt into an integer, and JSON
// numbers into integers or floats, in a list or an object of parameters.
func sqlValues(method string, p any) (any, error) {
	conv := func(v any) (any, error) {
		if n, ok := v.(json.Number); ok {
			// A whole number binds as an INTEGER, as JavaScript's
			// integers do in SQLite's own JavaScript API: 5 must find
			// the row 5, and 5 || '' is '5'. Others, and whole numbers
			// past 64 bits, bind as REAL.
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
			f, err := n.Float64()
			if err != nil {
				return nil, store.ArgumentError(fmt.Sprintf("%s: parameter %s: %v", method, n, err))
			}
			return f, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		if digits, ok := m["$int"].(string); ok && len(m) == 1 { // a BigInt
			i, err := strconv.ParseInt(digits, 10, 64)
			if err != nil {
				return nil, store.ArgumentError(fmt.Sprintf("%s: the BigInt %sn does not fit SQLite's 64-bit integers", method, digits))
			}
			return i, nil
		}
		b64, ok := m["$blob"].(string)
		if !ok || len(m) != 1 {
			return nil, store.ArgumentError(method + ": a parameter is a number, a BigInt, a string, a boolean, null or a Uint8Array")
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, store.ArgumentError(method + ": a blob parameter is not base64")
		}
		return b, nil
	}
	var err error
	switch p := p.(type) {
	case []any:
		for i := range p {
			if p[i], err = conv(p[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range p {
			if p[k], err = conv(p[k]); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}
