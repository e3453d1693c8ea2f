package jsapi

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/factlog/factlog/wasm/store"
)

// sqlParams lists a statement's parameters as SQLite numbers them: count
// is the largest index (sqlite3_bind_parameter_count), names the named
// ones (:a, @a, $a) in order of first use. SQLite binds what is not given
// as NULL; the bridge refuses that instead, since a forgotten parameter is
// a bug that would otherwise read as an empty result.
func sqlParams(sql string) (count int, names []string) {
	seen := map[string]bool{}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(sql, i, c)
		case c == '[':
			if j := strings.IndexByte(sql[i:], ']'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if j := strings.Index(sql[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(sql)
			}
		case c == '?':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if n, err := strconv.Atoi(sql[i+1 : j]); err == nil {
				count = max(count, n)
			} else {
				count++
			}
			i = j
		case c == ':' || c == '@' || c == '$':
			j := i + 1
			for j < len(sql) && identChar(sql[j]) {
				j++
			}
			if j > i+1 {
				if name := sql[i:j]; !seen[name] {
					seen[name] = true
					names = append(names, name)
					count++
				}
			}
			i = j
		case identChar(c):
			// A word: a parameter sign inside it (a$b) is part of it.
			for i < len(sql) && (identChar(sql[i]) || sql[i] == '$') {
				i++
			}
		default:
			i++
		}
	}
	return count, names
}

func skipQuoted(sql string, i int, quote byte) int {
	for j := i + 1; j < len(sql); j++ {
		if sql[j] == quote {
			if j+1 < len(sql) && sql[j+1] == quote {
				j++ // a doubled quote
				continue
			}
			return j + 1
		}
	}
	return len(sql)
}

func identChar(c byte) bool {
	return c == '_' || c >= 0x80 || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// checkParams refuses parameters that do not fit the statement: missing
// ones, extra positional ones, and an object for ? parameters.
func checkParams(method, sql string, p any) error {
	count, names := sqlParams(sql)
	switch p := p.(type) {
	case nil:
		if count > 0 {
			return store.ArgumentError(fmt.Sprintf("%s: the statement has %d parameter(s) but none were given: pass an array (for ?) or an object (for :name)", method, count))
		}
	case []any:
		if len(p) < count {
			return store.ArgumentError(fmt.Sprintf("%s: the statement has %d parameter(s) but %d value(s) were given", method, count, len(p)))
		}
		if len(p) > count {
			return store.ArgumentError(fmt.Sprintf("%s: %d value(s) were given for %d parameter(s)", method, len(p), count))
		}
	case map[string]any:
		if len(names) < count {
			return store.ArgumentError(fmt.Sprintf("%s: the statement has ? parameters: pass an array, not an object", method))
		}
		for _, n := range names {
			_, long := p[n]
			_, short := p[n[1:]]
			if !long && !short {
				return store.ArgumentError(fmt.Sprintf("%s: parameter %s is missing from the object", method, n))
			}
		}
	}
	return nil
}

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
