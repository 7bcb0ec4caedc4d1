package stores

import (
	"fmt"

	"github.com/omniq/omniq/events"
)

// PrepareAppend is the start of Append and AppendAt that the backends
// keeping each batch as one record (events.MarshalBatch) share. It names
// the call for errors: op is "append", or "append at N" for a conditional
// append after N. Then, in this order, it refuses an empty batch with
// ErrEmptyBatch, runs the backend's own check (whether the log takes this
// write now), whose error it returns as it is, and encodes the batch; an
// encoding error reads "BACKEND: OP: …". Nothing is written in any case.
func PrepareAppend(backend string, batch []events.Event, cond bool, after uint64, check func(op string) error) (op string, data []byte, err error) {
	op = "append"
	if cond {
		op = fmt.Sprintf("append at %d", after)
	}
	if len(batch) == 0 {
		return op, nil, ErrEmptyBatch
	}
	if err := check(op); err != nil {
		return op, nil, err
	}
	data, err = events.MarshalBatch(nil, batch)
	if err != nil {
		return op, nil, fmt.Errorf("%s: %s: %w", backend, op, err)
	}
	return op, data, nil
}
