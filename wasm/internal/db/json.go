package db

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/ncruces/go-sqlite3"
)

// maxExactInt is the largest integer a float64 (a JSON number in
// JavaScript) holds exactly.
const maxExactInt = 1 << 53

// BindJSON binds a canonical JSON value as the native SQLite value an
// application sees: TEXT for a string, INTEGER (exact up to 2^53) or REAL
// for a number, 1/0 for true/false, NULL for null, and JSON text for
// objects and arrays.
func BindJSON(s *sqlite3.Stmt, i int, value []byte) error {
	if len(value) == 0 {
		return s.BindNull(i)
	}
	switch value[0] {
	case 'n':
		return s.BindNull(i)
	case 't':
		return s.BindInt64(i, 1)
	case 'f':
		return s.BindInt64(i, 0)
	case '{', '[':
		return s.BindRawText(i, value)
	case '"':
		var str string
		if err := json.Unmarshal(value, &str); err != nil {
			return fmt.Errorf("bind JSON value: %w", err)
		}
		return s.BindText(i, str)
	default:
		f, err := strconv.ParseFloat(string(value), 64)
		if err != nil {
			return fmt.Errorf("bind JSON value: %w", err)
		}
		if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
			return s.BindInt64(i, int64(f))
		}
		return s.BindFloat(i, f)
	}
}
