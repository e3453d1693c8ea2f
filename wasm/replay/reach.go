package replay

import (
	"strings"

	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// Reach is how far the effect of an event type's materializers extends,
// as the engine proves it when it prepares them. A late event whose type
// reaches only its item's row need not rewind the whole state: the rows
// of the items it is about can be rewound alone (RewindItems), and only
// those items' events re-applied.
//
// The proof is conservative: it accepts a few statement shapes, checked
// both by their tokens and by what SQLite's authorizer reports they read
// and write, on tables where a key is one item's and only one's. Anything
// else reaches everything.
type Reach int

const (
	// ReachNone: the type has no statement; its events change nothing.
	ReachNone Reach = iota
	// ReachRow: every statement is UPDATE t SET … WHERE key = :item on a
	// keyed table, changing no key: it reads and changes only the row of
	// the event's item, and moves, creates and deletes no row.
	ReachRow
	// ReachItem: every statement is a ReachRow one, or creates or deletes
	// the row of the event's item: INSERT [OR …] INTO t (…, key, …)
	// VALUES (…, :item, …) or DELETE FROM t WHERE key = :item. The row
	// is the item's alone, but a rowid table's next rowid depends on it.
	ReachItem
	// ReachAll: anything else.
	ReachAll
)

func (r Reach) String() string {
	switch r {
	case ReachNone:
		return "none"
	case ReachRow:
		return "row"
	case ReachItem:
		return "item"
	}
	return "all"
}

// Reach returns how far the events of type typ reach (with the catch-all
// materializer's statements, which run for every type).
func (e *Engine) Reach(typ string) Reach {
	return max(e.reach[typ], e.reach["*"])
}

// ReachesAll reports whether some event type's materializers may reach
// beyond their item.
func (e *Engine) ReachesAll() bool {
	for _, r := range e.reach {
		if r == ReachAll {
			return true
		}
	}
	return false
}

// access is one authorizer report about a statement being prepared.
type access struct {
	action       sqlite3.AuthorizerActionCode
	table, field string
	inner        string
}

// keyed finds the column whose value is an item, if t has one: its only
// primary key column, with TEXT or no affinity (so that the text of an
// item is stored and compared as it is) and the BINARY collation, in the
// column and in its key (so that no two items name one row), and no other
// UNIQUE constraint (so that no
// write to one item's row can fail or replace because of another's).
func keyed(c *db.Conn, t *table) (string, error) {
	var key, decl string
	pks := 0
	err := c.Query(`SELECT name, type FROM pragma_table_info(?) WHERE pk > 0`, []any{t.name}, func(s *sqlite3.Stmt) error {
		key, decl = s.ColumnText(0), s.ColumnText(1)
		pks++
		return nil
	})
	if err != nil || pks != 1 || !textAffinity(decl) {
		return "", err
	}
	// The key's index: a rowid table's UNIQUE index for its PRIMARY KEY,
	// a WITHOUT ROWID table's own.
	var coll string
	unique := 0
	err = c.Query(`SELECT l.origin, x.coll FROM pragma_index_list(?1) l, pragma_index_xinfo(l.name) x WHERE l."unique" AND x.key`,
		[]any{t.name}, func(s *sqlite3.Stmt) error {
			if s.ColumnText(0) == "pk" {
				coll = s.ColumnText(1)
			} else {
				unique++
			}
			return nil
		})
	if err != nil || unique > 0 || !strings.EqualFold(coll, "BINARY") {
		return "", err
	}
	// And the column's own: WHERE key = :item compares by it.
	_, colColl, _, _, _, err := c.Raw().TableColumnMetadata("main", t.name, key)
	if err != nil || !strings.EqualFold(colColl, "BINARY") {
		return "", err
	}
	return key, nil
}

// textAffinity reports whether a column declared as decl has TEXT affinity
// or none (BLOB), by SQLite's rules (https://sqlite.org/datatype3.html).
func textAffinity(decl string) bool {
	d := strings.ToUpper(decl)
	switch {
	case strings.Contains(d, "INT"):
		return false
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return true
	}
	return d == "" || strings.Contains(d, "BLOB")
}

// reachOf decides how far a prepared statement reaches from its text and
// what the authorizer reported while it was prepared (seen, without the
// reports from factlog's own triggers).
func (e *Engine) reachOf(sql string, seen []access) Reach {
	toks, ok := tokenize(sql)
	if !ok || len(toks) == 0 {
		return ReachAll
	}
	// The table the statement writes, and what else it touches.
	var t *table
	var kind sqlite3.AuthorizerActionCode
	for _, a := range seen {
		if a.inner != "" {
			return ReachAll // a view's or a trigger's body
		}
		switch a.action {
		case sqlite3.AUTH_INSERT, sqlite3.AUTH_UPDATE, sqlite3.AUTH_DELETE:
			w := e.table(a.table)
			if w == nil || (t != nil && w != t) || (kind != 0 && a.action != kind) {
				return ReachAll
			}
			t, kind = w, a.action
		case sqlite3.AUTH_READ, sqlite3.AUTH_FUNCTION:
		default:
			return ReachAll
		}
	}
	if t == nil || t.key == "" {
		return ReachAll
	}
	for _, a := range seen {
		switch {
		case a.action == sqlite3.AUTH_READ && e.table(a.table) != t:
			return ReachAll // another table's rows
		case a.action == sqlite3.AUTH_UPDATE && !t.settable(a.field):
			return ReachAll // the key, or a name of the rowid: the row moves
		}
	}
	var shape Reach
	switch kind {
	case sqlite3.AUTH_UPDATE:
		shape = ReachRow
		if !toks[0].is("update") || !whereKey(toks, t.key) {
			return ReachAll
		}
	case sqlite3.AUTH_DELETE:
		shape = ReachItem
		if !toks[0].is("delete") || !whereKey(toks, t.key) {
			return ReachAll
		}
	case sqlite3.AUTH_INSERT:
		shape = ReachItem
		if !valuesKey(toks, t.key) {
			return ReachAll
		}
	}
	// Words that bring in other rows or other statements: subqueries,
	// joins, CTEs, upserts, RETURNING, ordered or limited writes.
	for i, tok := range toks {
		if tok.kind == wordToken && refused[strings.ToLower(tok.text)] && !(i == 1 && kind == sqlite3.AUTH_DELETE) {
			return ReachAll // (DELETE FROM is the DELETE's own)
		}
	}
	return shape
}

var refused = map[string]bool{
	"select": true, "from": true, "with": true, "on": true, "returning": true,
	"limit": true, "order": true, "indexed": true, "default": true, "exists": true,
}

// settable reports whether an UPDATE may set column name of a keyed table
// without moving the row: a stored column other than the key.
func (t *table) settable(name string) bool {
	if strings.EqualFold(name, t.key) {
		return false
	}
	for _, c := range t.columns {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// table returns the state table named name, or nil.
func (e *Engine) table(name string) *table {
	for _, t := range e.tables {
		if strings.EqualFold(t.name, name) {
			return t
		}
	}
	return nil
}

// whereKey reports whether an UPDATE's or DELETE's only WHERE clause is
// key = :item, and ends the statement.
func whereKey(toks []token, key string) bool {
	at := -1
	for i, tok := range toks {
		if tok.is("where") {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at < 0 {
		return false
	}
	rest := trimSemicolons(toks[at+1:])
	if len(rest) != 3 || !(rest[1].is("=") || rest[1].is("==")) {
		return false
	}
	return (rest[0].names(key) && rest[2].isItem()) || (rest[0].isItem() && rest[2].names(key))
}

// valuesKey reports whether an INSERT is INSERT [OR …] INTO t (columns)
// VALUES (values), one row, with :item as the value of the key.
func valuesKey(toks []token, key string) bool {
	i := 0
	switch {
	case toks[0].is("replace"):
		i = 1
	case toks[0].is("insert"):
		i = 1
		if len(toks) > 2 && toks[1].is("or") {
			i = 3
		}
	default:
		return false
	}
	if len(toks) <= i || !toks[i].is("into") {
		return false
	}
	i++
	// The table's name, perhaps with its schema's.
	i++
	if len(toks) > i+1 && toks[i].is(".") {
		i += 2
	}
	columns, next, ok := parenthesized(toks, i)
	if !ok || len(toks) <= next || !toks[next].is("values") {
		return false
	}
	values, end, ok := parenthesized(toks, next+1)
	if !ok || len(trimSemicolons(toks[end:])) != 0 || len(columns) != len(values) {
		return false
	}
	keys := 0
	for j, c := range columns {
		if len(c) != 1 || (c[0].kind != wordToken && c[0].kind != quotedToken) {
			return false
		}
		if c[0].names(key) {
			keys++
			if len(values[j]) != 1 || !values[j][0].isItem() {
				return false
			}
		}
	}
	return keys == 1
}

// parenthesized splits the parenthesized list at toks[i] at its top-level
// commas and returns the index after its closing parenthesis.
func parenthesized(toks []token, i int) (items [][]token, next int, ok bool) {
	if len(toks) <= i || !toks[i].is("(") {
		return nil, 0, false
	}
	depth, start := 0, i+1
	for j := i; j < len(toks); j++ {
		switch {
		case toks[j].is("("):
			depth++
		case toks[j].is(")"):
			depth--
			if depth == 0 {
				return append(items, toks[start:j]), j + 1, true
			}
		case toks[j].is(",") && depth == 1:
			items = append(items, toks[start:j])
			start = j + 1
		}
	}
	return nil, 0, false
}

func trimSemicolons(toks []token) []token {
	for len(toks) > 0 && toks[len(toks)-1].is(";") {
		toks = toks[:len(toks)-1]
	}
	return toks
}

// A token of SQL, as far as reachOf needs to tell them apart.
type token struct {
	kind byte
	text string // a word or an identifier without its quotes; an operator
}

const (
	wordToken   = 'w' // a keyword or a bare identifier
	quotedToken = 'q' // a quoted identifier ("x", `x`, [x])
	stringToken = 's' // a string or blob literal
	numberToken = 'n'
	paramToken  = 'p' // text: the parameter's name, without : @ $
	opToken     = 'o'
)

func (t token) is(s string) bool {
	return (t.kind == wordToken || t.kind == opToken) && strings.EqualFold(t.text, s)
}

// names reports whether the token is an identifier naming column.
func (t token) names(column string) bool {
	return (t.kind == wordToken || t.kind == quotedToken) && strings.EqualFold(t.text, column)
}

func (t token) isItem() bool { return t.kind == paramToken && t.text == "item" }

// tokenize splits SQL into tokens, dropping spaces and comments; ok is
// false for text it does not know (which then reaches everything).
func tokenize(sql string) (toks []token, ok bool) {
	isWord := func(c byte) bool {
		return c == '_' || c == '$' || c >= 0x80 || ('a' <= c|0x20 && c|0x20 <= 'z') || ('0' <= c && c <= '9')
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return toks, true
			}
			i += j + 1
		case strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return toks, true
			}
			i += j + 4
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := map[byte]byte{'\'': '\'', '"': '"', '`': '`', '[': ']'}[c]
			var b strings.Builder
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == end {
					if end != ']' && j+1 < len(sql) && sql[j+1] == end {
						b.WriteByte(end)
						j++
						continue
					}
					break
				}
				b.WriteByte(sql[j])
			}
			if j >= len(sql) {
				return nil, false
			}
			kind := byte(quotedToken)
			if c == '\'' {
				kind = stringToken
			}
			toks, i = append(toks, token{kind, b.String()}), j+1
		case c == ':' || c == '@' || c == '$':
			j := i + 1
			for j < len(sql) && isWord(sql[j]) {
				j++
			}
			toks, i = append(toks, token{paramToken, sql[i+1 : j]}), j
		case c == '?':
			j := i + 1
			for j < len(sql) && '0' <= sql[j] && sql[j] <= '9' {
				j++
			}
			toks, i = append(toks, token{paramToken, sql[i:j]}), j
		case '0' <= c && c <= '9' || (c == '.' && i+1 < len(sql) && '0' <= sql[i+1] && sql[i+1] <= '9'):
			j := i + 1
			for j < len(sql) && (isWord(sql[j]) || sql[j] == '.' || ((sql[j] == '+' || sql[j] == '-') && (sql[j-1]|0x20) == 'e')) {
				j++
			}
			toks, i = append(toks, token{numberToken, sql[i:j]}), j
		case isWord(c):
			j := i + 1
			for j < len(sql) && isWord(sql[j]) {
				j++
			}
			if (c|0x20) == 'x' && j == i+1 && j < len(sql) && sql[j] == '\'' {
				i = j // a blob literal: the string that follows
				continue
			}
			toks, i = append(toks, token{wordToken, sql[i:j]}), j
		default:
			n := 1
			for _, op := range []string{"->>", "||", "<=", ">=", "==", "!=", "<>", "<<", ">>", "->"} {
				if strings.HasPrefix(sql[i:], op) {
					n = len(op)
					break
				}
			}
			if !strings.ContainsAny(sql[i:i+n], "()=,;.+-*/%<>!|&~") {
				return nil, false
			}
			toks, i = append(toks, token{opToken, sql[i : i+n]}), i+n
		}
	}
	return toks, true
}
