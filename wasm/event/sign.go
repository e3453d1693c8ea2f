package event

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
)

// Key is an author's signing key: an Ed25519 private key, whose public key
// is the author's PeerID. A store makes one when it is created and keeps
// it; it never leaves the store.
type Key struct{ priv ed25519.PrivateKey }

// NewKey makes a key from r's randomness (crypto/rand.Reader in
// production; tests inject a seeded reader).
func NewKey(r io.Reader) (Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return Key{}, fmt.Errorf("new key: %w", err)
	}
	return Key{ed25519.NewKeyFromSeed(seed)}, nil
}

// KeyFromSeed returns the key of a seed (Seed).
func KeyFromSeed(seed []byte) (Key, error) {
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("key seed of %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return Key{ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns the 32 bytes that make the key, for storing it.
func (k Key) Seed() []byte { return k.priv.Seed() }

// Peer returns the key's public half, the author's PeerID.
func (k Key) Peer() PeerID {
	var p PeerID
	copy(p[:], k.priv.Public().(ed25519.PublicKey))
	return p
}

// Signature is an author's Ed25519 signature over an event's id.
type Signature [ed25519.SignatureSize]byte

// String returns the signature in hex.
func (s Signature) String() string { return hex.EncodeToString(s[:]) }

// signed is what a signature covers: the id, after a prefix that keeps
// factlog's signatures from meaning anything anywhere else.
func signed(id ID) []byte { return append([]byte("factlog event signature v2\x00"), id[:]...) }

// Sign signs the event with this id. The caller makes sure the event is
// the key's: its Peer is k.Peer().
func (k Key) Sign(id ID) Signature {
	var s Signature
	copy(s[:], ed25519.Sign(k.priv, signed(id)))
	return s
}

// Verify reports whether s is peer's signature over id.
func (s Signature) Verify(peer PeerID, id ID) bool {
	return ed25519.Verify(ed25519.PublicKey(peer[:]), signed(id), s[:])
}

// MarshalText implements encoding.TextMarshaler (hex).
func (s Signature) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (s *Signature) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(s) {
		return fmt.Errorf("signature of %d hex digits, want %d", len(b), 2*len(s))
	}
	_, err := hex.Decode(s[:], b)
	return err
}
