package jsapi

import (
	"encoding/base64"

	"github.com/factlog/factlog/wasm/store"
)

// blobs turns the {"$blob": base64} the bridge sends for a Uint8Array
// into bytes, in a list or an object of parameters.
func blobs(method string, p any) (any, error) {
	conv := func(v any) (any, error) {
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		b64, ok := m["$blob"].(string)
		if !ok || len(m) != 1 {
			return nil, store.ArgumentError(method + ": a parameter is a number, a string, a boolean, null or a Uint8Array")
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
