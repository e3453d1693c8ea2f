package db

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// Policy decides what SQL may do while it is in force (Conn.Enforce). It
// is consulted through SQLite's authorizer, which sees every table,
// column, function and statement kind a statement touches when it is
// prepared — including the bodies of the triggers and views it runs.
type Policy interface {
	// Allow returns "" to allow an action, or why it is refused, in words
	// that say what to do instead. The arguments are the authorizer's
	// (https://sqlite.org/c3ref/set_authorizer.html).
	Allow(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) string
}

// Enforce puts p in force (nil: none, for the caller's own SQL) and
// returns a function that puts the previous policy back. A policy must be
// in force both while a statement is prepared and while it runs, because
// SQLite prepares a statement again, while it runs, when the schema
// changed since.
func (c *Conn) Enforce(p Policy) (restore func()) {
	old := c.policy
	c.policy = p
	return func() { c.policy = old }
}

func (c *Conn) authorize(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) sqlite3.AuthorizerReturnCode {
	if c.policy == nil {
		return sqlite3.AUTH_OK
	}
	if why := c.policy.Allow(action, name3, name4, schema, inner); why != "" {
		c.denied = why
		return sqlite3.AUTH_DENY
	}
	return sqlite3.AUTH_OK
}

// Denied returns why the policy last refused something, and forgets it.
func (c *Conn) Denied() (why string) {
	why, c.denied = c.denied, ""
	return why
}

// Denial adds why a policy refused a statement to SQLite's terse "not
// authorized", and forgets it.
func (c *Conn) Denial(err error) error {
	why := c.Denied()
	if err == nil || why == "" {
		return err
	}
	return fmt.Errorf("%s: %w", why, err)
}
