package db

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// metaSchema holds factlog's settings of one database: its peer id, the
// fingerprint of its interpretation, the state tables it created.
const metaSchema = `CREATE TABLE IF NOT EXISTS _factlog_meta (key TEXT PRIMARY KEY NOT NULL, value ANY) STRICT, WITHOUT ROWID`

// InitMeta creates the table Meta and SetMeta use, if it does not exist.
func (c *Conn) InitMeta() error {
	if err := c.Script(metaSchema); err != nil {
		return fmt.Errorf("create the settings table: %w", err)
	}
	return nil
}

// Meta returns the value stored under key; ok is false if there is none.
// InitMeta must have run.
func (c *Conn) Meta(key string) (value string, ok bool, err error) {
	err = c.Query(`SELECT value FROM _factlog_meta WHERE key = ?`, []any{key}, func(s *sqlite3.Stmt) error {
		value, ok = s.ColumnText(0), true
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	return value, ok, nil
}

// SetMeta stores value under key. InitMeta must have run.
func (c *Conn) SetMeta(key, value string) error {
	if err := c.Exec(`INSERT OR REPLACE INTO _factlog_meta (key, value) VALUES (?, ?)`, key, value); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
