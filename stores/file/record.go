package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/omniq/omniq/events"
)

const (
	// headerLen is the record header: body length, then body checksum.
	headerLen = 8
	// bodyHeaderLen is the fixed start of a body: first position, then count.
	bodyHeaderLen = 12
	// maxBodyLen bounds one record's body. Append refuses a batch that
	// encodes larger; a header that claims more is damage.
	maxBodyLen = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Ways the bytes at an offset can fail to be a record. Recovery decides
// between torn tail and corruption by where the failure is, not by which.
var (
	errShortHeader = errors.New("record header cut short")
	errBadLength   = errors.New("impossible record length")
	errShortBody   = errors.New("record body cut short")
	errChecksum    = errors.New("record checksum mismatch")
)

// encodeRecord encodes batch as a record whose first position, count and
// checksum are left blank for sealRecord. Encoding is the costly part of an
// append and needs no position, so appenders do it before taking the lock.
func encodeRecord(batch []events.Event) ([]byte, error) {
	rec := make([]byte, headerLen+bodyHeaderLen, headerLen+bodyHeaderLen+128*len(batch))
	rec, err := events.MarshalBatch(rec, batch)
	if err != nil {
		return nil, err
	}
	if n := len(rec) - headerLen; n > maxBodyLen {
		return nil, fmt.Errorf("batch of %d events encodes to %d bytes; a record holds at most %d", len(batch), n, maxBodyLen)
	}
	return rec, nil
}

// sealRecord fills in rec's first position, event count, length and
// checksum. REQUIRES: rec came from encodeRecord for a batch of count events.
func sealRecord(rec []byte, first uint64, count int) {
	body := rec[headerLen:]
	binary.LittleEndian.PutUint64(body[0:8], first)
	binary.LittleEndian.PutUint32(body[8:12], uint32(count))
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(body, castagnoli))
}

// parseRecord checks the record at the start of b and returns its body and
// its whole length. It never reads past b and never panics.
func parseRecord(b []byte) (body []byte, n int, err error) {
	if len(b) < headerLen {
		return nil, 0, errShortHeader
	}
	length := binary.LittleEndian.Uint32(b[0:4])
	if length < bodyHeaderLen || length > maxBodyLen {
		return nil, 0, fmt.Errorf("%w: %d", errBadLength, length)
	}
	if uint64(len(b)-headerLen) < uint64(length) {
		return nil, 0, fmt.Errorf("%w: header says %d bytes, %d remain", errShortBody, length, len(b)-headerLen)
	}
	body = b[headerLen : headerLen+int(length)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, 0, errChecksum
	}
	return body, headerLen + int(length), nil
}

// splitBody returns the parts of a body that parseRecord accepted.
func splitBody(body []byte) (first uint64, count uint32, batch []byte) {
	return binary.LittleEndian.Uint64(body[0:8]), binary.LittleEndian.Uint32(body[8:12]), body[bodyHeaderLen:]
}

// decodeBody decodes the events of a body that parseRecord accepted, with
// their positions set. Errors wrap events.ErrCorrupt (or the events
// package's other decoding errors).
func decodeBody(body []byte) ([]events.Event, error) {
	first, count, batch := splitBody(body)
	evs, err := events.UnmarshalBatch(batch, first)
	if err != nil {
		return nil, err
	}
	if uint64(len(evs)) != uint64(count) {
		return nil, fmt.Errorf("%w: record header counts %d events, batch holds %d", events.ErrCorrupt, count, len(evs))
	}
	return evs, nil
}
