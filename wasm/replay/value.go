package replay

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

// bindValue binds a canonical JSON value the way materializers see it.
func bindValue(s *sqlite3.Stmt, i int, value []byte) error {
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
			return fmt.Errorf("bind :value: %w", err)
		}
		return s.BindText(i, str)
	default:
		f, err := strconv.ParseFloat(string(value), 64)
		if err != nil {
			return fmt.Errorf("bind :value: %w", err)
		}
		if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
			return s.BindInt64(i, int64(f))
		}
		return s.BindFloat(i, f)
	}
}
