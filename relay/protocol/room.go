package protocol

import (
	"fmt"
	"net/url"
	"strings"
)

// RoomsPath is the path of the rooms below a relay's address: a room is
// at RoomsPath + its name (GET /v1/rooms/{room}).
const RoomsPath = "/v1/rooms/"

// MaxRoom is the longest room name, in bytes.
const MaxRoom = 128

// RoomRule says what a room name is, for the messages that refuse one.
var RoomRule = fmt.Sprintf("a room name is 1 to %d letters, digits and . _ ~ -, other than . and ..", MaxRoom)

// ValidRoom reports whether name can name a room: 1 to MaxRoom letters,
// digits and . _ ~ - (RFC 3986's unreserved characters, which a URL
// carries as they are), other than "." and "..": those are dot segments,
// which a URL parser removes, even percent-encoded (WHATWG URL: a
// browser's WebSocket, Node's, a Worker's request.url) and Go's router
// redirects, so no client reaches such a room at the path that names it.
func ValidRoom(name string) bool {
	if len(name) == 0 || len(name) > MaxRoom || name == "." || name == ".." {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// RoomOf finds the room a URL path names. The path is the escaped one
// (url.URL.EscapedPath), and ends in /v1/rooms/{room}, maybe after a
// prefix (a relay behind a reverse proxy at a sub-path); the room is its
// last segment, percent-decoded, as a relay's router decodes it (an
// encoded "/" is part of the segment, and makes the name invalid). ok is
// false when the path does not end so; name may still be invalid
// (ValidRoom).
func RoomOf(escapedPath string) (name string, ok bool) {
	i := strings.LastIndex(escapedPath, RoomsPath)
	if i < 0 || strings.Contains(escapedPath[i+len(RoomsPath):], "/") {
		return "", false
	}
	seg := escapedPath[i+len(RoomsPath):]
	if name, err := url.PathUnescape(seg); err == nil {
		return name, true
	}
	return seg, true // a bad escape: a "%" no room name has
}
