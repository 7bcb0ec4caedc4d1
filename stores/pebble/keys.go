package pebble

import "encoding/binary"

// Key prefixes; see the package doc for the layout.
const (
	eventPrefix    byte = 'e'
	firstPrefix    byte = 'f'
	snapshotPrefix byte = 's'
)

// eventKeyLen is the length of every event key: prefix + big-endian position.
const eventKeyLen = 1 + 8

// snapshotKey is the key of the snapshot's manifest.
var snapshotKey = []byte{snapshotPrefix}

// snapshotChunkKey returns the key of chunk i of the snapshot.
func snapshotChunkKey(i uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{snapshotPrefix}, i)
}

// snapshotChunksEnd is the exclusive upper bound of the chunk keys.
var snapshotChunksEnd = []byte{snapshotPrefix + 1}

// firstKey holds the log's first position once it has been truncated.
var firstKey = []byte{firstPrefix}

// putEventKey writes the key of position pos into dst and returns it.
// REQUIRES: len(dst) >= eventKeyLen.
func putEventKey(dst []byte, pos uint64) []byte {
	dst[0] = eventPrefix
	binary.BigEndian.PutUint64(dst[1:eventKeyLen], pos)
	return dst[:eventKeyLen]
}

// eventKey returns a new key for position pos.
func eventKey(pos uint64) []byte {
	return putEventKey(make([]byte, eventKeyLen), pos)
}

// eventsEnd is the exclusive upper bound of all event keys.
var eventsEnd = []byte{eventPrefix + 1}

// parseEventKey returns the position in an event key; ok is false when key is
// not a well-formed event key.
func parseEventKey(key []byte) (pos uint64, ok bool) {
	if len(key) != eventKeyLen || key[0] != eventPrefix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}
