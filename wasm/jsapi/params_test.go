package jsapi

import (
	"slices"
	"testing"
)

func TestSQLParams(t *testing.T) {
	for _, tt := range []struct {
		sql   string
		count int
		names []string
	}{
		{"SELECT 1", 0, nil},
		{"SELECT ?", 1, nil},
		{"SELECT ?, ?", 2, nil},
		{"SELECT ?3, ?", 4, nil},
		{"SELECT ?2, ?1", 2, nil},
		{"SELECT :a, @b, $c, :a", 3, []string{":a", "@b", "$c"}},
		{"SELECT ?, :a, ?", 3, []string{":a"}},
		{"SELECT '?', \"?\", `?`, [?], 'it''s ?', x'3f'", 0, nil},
		{"SELECT 1 -- ?\n, ? /* :a */", 1, nil},
		{"SELECT a$b FROM t", 0, nil},
		{"SELECT json_extract(v, '$.a') FROM t WHERE id = :id", 1, []string{":id"}},
		{"SELECT 'unterminated ?", 0, nil},
		{"SELECT : , ::", 0, nil},
		{"SELECT :é", 1, []string{":é"}},
	} {
		count, names := sqlParams(tt.sql)
		if count != tt.count || !slices.Equal(names, tt.names) {
			t.Errorf("sqlParams(%q) = %d, %q; want %d, %q", tt.sql, count, names, tt.count, tt.names)
		}
	}
}

func FuzzSQLParams(f *testing.F) {
	for _, s := range []string{"SELECT ?", "SELECT :a, '?' -- ?", "/* ? */ ?9", "[?", "'", "$a::b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		count, names := sqlParams(sql)
		if count < len(names) || count < 0 {
			t.Fatalf("sqlParams(%q) = %d, %q", sql, count, names)
		}
	})
}
