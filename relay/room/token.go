package room

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mode is what a connection may do in its room.
type Mode string

// Modes a token grants.
const (
	ReadOnly  Mode = "r"
	ReadWrite Mode = "rw"
)

// Claims are a room token's: the room it opens, the mode, and an expiry.
type Claims struct {
	Room string `json:"room"`
	Mode Mode   `json:"mode"`
	jwt.RegisteredClaims
}

// ErrToken rejects a connection's token; the message says why.
var ErrToken = errors.New("token refused")

// MinSecret is the fewest bytes a secret that signs room tokens may have.
const MinSecret = 16

// ErrShortSecret refuses a secret shorter than MinSecret bytes.
var ErrShortSecret = fmt.Errorf("a room-token secret needs at least %d bytes", MinSecret)

// MintToken signs a token (HS256) for room, valid for ttl.
func MintToken(secret []byte, room string, mode Mode, ttl time.Duration) (string, error) {
	if len(secret) < MinSecret {
		return "", fmt.Errorf("mint token: %w", ErrShortSecret)
	}
	if mode != ReadOnly && mode != ReadWrite {
		return "", fmt.Errorf("mint token: mode %q is neither %q nor %q", mode, ReadOnly, ReadWrite)
	}
	now := time.Now()
	c := Claims{Room: room, Mode: mode, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// CheckToken verifies a token for room and returns its mode and when it
// expires: a relay closes the connection then.
func CheckToken(secret []byte, token, room string) (Mode, time.Time, error) {
	if token == "" {
		return "", time.Time{}, fmt.Errorf("%w: this relay needs a room token (?token= or Authorization: Bearer)", ErrToken)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if c.Room != room {
		return "", time.Time{}, fmt.Errorf("%w: the token is for room %q, not %q", ErrToken, c.Room, room)
	}
	if c.Mode != ReadOnly && c.Mode != ReadWrite {
		return "", time.Time{}, fmt.Errorf("%w: unknown mode %q", ErrToken, c.Mode)
	}
	return c.Mode, c.ExpiresAt.Time, nil
}

// Expired is the reason a relay closes a connection with when its token
// expires (code protocol.CloseToken, as for a token refused at once).
func Expired(at time.Time) string {
	return fmt.Sprintf("%v: the token expired at %s; connect with a new one", ErrToken, at.UTC().Format(time.RFC3339))
}
