package pebble

import (
	"sync"

	"github.com/omniq/omniq/events"
)

// encoded holds one batch's records back to back, so that encoding a batch
// costs no allocation per event once the buffer has grown.
type encoded struct {
	buf  []byte
	ends []int // ends[i] is the end offset of record i in buf.
}

// maxPooledBuf bounds the buffer kept for reuse; one batch of huge events
// should not pin its memory for the life of the process.
const maxPooledBuf = 4 << 20

var encodedPool = sync.Pool{New: func() any { return new(encoded) }}

func getEncoded() *encoded { return encodedPool.Get().(*encoded) }

func putEncoded(e *encoded) {
	if cap(e.buf) > maxPooledBuf {
		return
	}
	encodedPool.Put(e)
}

// encode replaces e's contents with the records of batch.
func (e *encoded) encode(batch []events.Event) error {
	e.buf, e.ends = e.buf[:0], e.ends[:0]
	for _, ev := range batch {
		var err error
		if e.buf, err = events.Marshal(e.buf, ev); err != nil {
			return err
		}
		e.ends = append(e.ends, len(e.buf))
	}
	return nil
}

// record returns record i.
func (e *encoded) record(i int) []byte {
	start := 0
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.buf[start:e.ends[i]]
}

// batchSize estimates the size of a Pebble batch holding e: its 12-byte
// header, and per record a kind byte, two length varints, key and value.
func (e *encoded) batchSize() int {
	return 12 + len(e.buf) + len(e.ends)*(1+2*5+eventKeyLen)
}
