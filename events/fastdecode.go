package events

import (
	"encoding/binary"
	"math"
	"time"
)

// maxFastDepth bounds the nesting of free-form values (arguments, keyword
// arguments, results) decoded here; it stays far below the handle's
// MaxDepth so that nothing accepted here is refused there for depth.
const maxFastDepth = 16

// Msgpack format bytes used below (see the msgpack spec).
const (
	mpNil     = 0xc0
	mpFalse   = 0xc2
	mpTrue    = 0xc3
	mpBin8    = 0xc4
	mpBin16   = 0xc5
	mpBin32   = 0xc6
	mpFloat32 = 0xca
	mpFloat64 = 0xcb
	mpUint8   = 0xcc
	mpUint16  = 0xcd
	mpUint32  = 0xce
	mpUint64  = 0xcf
	mpInt8    = 0xd0
	mpInt16   = 0xd1
	mpInt32   = 0xd2
	mpInt64   = 0xd3
	mpStr8    = 0xd9
	mpStr16   = 0xda
	mpStr32   = 0xdb
	mpArray16 = 0xdc
	mpArray32 = 0xdd
	mpMap16   = 0xde
	mpMap32   = 0xdf
)

// decodeFast decodes b into p, a zero payload from newPayload. It reports
// false when it declines; p may then be partly filled and must not be used.
//
// Replay decodes every event of the log, and the reflective msgpack decoder
// spends most of its time finding struct fields and codec functions; so the
// payload types that make up nearly all of a log are decoded here by hand.
//
// INVARIANT: decodeFast either declines or yields exactly the payload that
// decodeReflect yields for the same bytes. It accepts only constructs whose
// reflective meaning is plain: a map with each known field at most once (a
// nil value leaves the field zero), string keys, integers into integer
// fields, strings into strings, booleans into bools. Anything else (unknown
// or repeated fields, other formats, a uint64 beyond int64, nesting deeper
// than maxFastDepth, trailing bytes) declines, and decodeReflect decides.
// TestFastDecodeMatchesReflect and FuzzFastDecode hold it to that.
func decodeFast(p Payload, b []byte) bool {
	d := fastDecoder{b: b}
	switch p := p.(type) {
	case *TaskEnqueued:
		readMembers(&d, enqueuedMembers, p)
	case *TaskLeased:
		readMembers(&d, leasedMembers, p)
	case *TaskHeartbeat:
		readMembers(&d, heartbeatMembers, p)
	case *TaskCompleted:
		readMembers(&d, completedMembers, p)
	case *TaskFailed:
		readMembers(&d, failedMembers, p)
	case *TaskRetryScheduled:
		readMembers(&d, retryScheduledMembers, p)
	case *TaskLeaseExpired:
		readMembers(&d, leaseExpiredMembers, p)
	case *TaskCancelled:
		readMembers(&d, cancelledMembers, p)
	case *ScheduleCreated:
		readMembers(&d, scheduleCreatedMembers, p)
	case *ScheduleFired:
		readMembers(&d, scheduleFiredMembers, p)
	case *ScheduleResumed:
		readMembers(&d, scheduleResumedMembers, p)
	case *LogCheckpoint:
		readMembers(&d, checkpointMembers, p)
	case *LogCheckpointPart:
		readMembers(&d, checkpointPartMembers, p)
	case *TaskRetried:
		readMembers(&d, retriedMembers, p)
	case *QueuePaused:
		readMembers(&d, queueMembers, &p.Queue)
	case *QueueResumed:
		readMembers(&d, queueMembers, &p.Queue)
	case *LogCompacting:
		readMembers(&d, compactingMembers, p)
	case *TaskExpired, *TaskDeleted, *SchedulePaused, *ScheduleDeleted:
		d.empty()
	default:
		return false
	}
	return !d.bad && d.off == len(d.b)
}

// fastDecoder reads msgpack from b. bad is sticky: after the first construct
// it declines, every read returns a zero value and consumes nothing.
type fastDecoder struct {
	b   []byte
	off int
	bad bool
}

func (d *fastDecoder) decline() { d.bad = true }

// peek returns the next format byte without consuming it.
func (d *fastDecoder) peek() byte {
	if d.bad || d.off >= len(d.b) {
		d.bad = true
		return 0
	}
	return d.b[d.off]
}

// next consumes n bytes; nil (and bad) when fewer are left.
func (d *fastDecoder) next(n int) []byte {
	if d.bad || n < 0 || n > len(d.b)-d.off {
		d.bad = true
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

// length reads a 1, 2 or 4-byte big-endian length of entries that take at
// least minSize bytes each (see check).
func (d *fastDecoder) length(width, minSize int) int {
	s := d.next(width)
	if s == nil {
		return 0
	}
	var n int
	switch width {
	case 1:
		n = int(s[0])
	case 2:
		n = int(binary.BigEndian.Uint16(s))
	default:
		n = int(binary.BigEndian.Uint32(s))
	}
	return d.check(n, minSize)
}

// check returns n, or declines when n entries of at least minSize bytes
// each cannot fit in the bytes left: such a length is corrupt and must not
// size an allocation.
func (d *fastDecoder) check(n, minSize int) int {
	if n > (len(d.b)-d.off)/minSize {
		d.bad = true
		return 0
	}
	return n
}

// mapLen reads a map header. An entry, key and value, takes 2 bytes or more.
func (d *fastDecoder) mapLen() int { return d.header(0x80, mpMap16, mpMap32, 2) }

// arrayLen reads an array header.
func (d *fastDecoder) arrayLen() int { return d.header(0x90, mpArray16, mpArray32, 1) }

// header reads the length of a map or an array: the fix form, fix to
// fix+15 with the length in the low nibble, or the 16- or 32-bit form
// marked m16 or m32. Each entry takes at least minSize bytes.
func (d *fastDecoder) header(fix, m16, m32 byte, minSize int) int {
	c := d.peek()
	switch {
	case d.bad:
		return 0
	case c >= fix && c <= fix+0x0f:
		d.off++
		return d.check(int(c&0x0f), minSize)
	case c == m16:
		d.off++
		return d.length(2, minSize)
	case c == m32:
		d.off++
		return d.length(4, minSize)
	}
	d.decline()
	return 0
}

// rawString reads a msgpack str (not bin) and returns its bytes, which
// alias b.
func (d *fastDecoder) rawString() []byte {
	c := d.peek()
	switch {
	case d.bad:
		return nil
	case c >= 0xa0 && c <= 0xbf:
		d.off++
		return d.next(int(c & 0x1f))
	case c == mpStr8, c == mpStr16, c == mpStr32:
		return d.body(1 << (c - mpStr8))
	}
	d.decline()
	return nil
}

// body consumes a str or bin of the 8, 16 or 32 form: its format byte and
// a length of width bytes (1, 2 or 4: each form's format byte is the one
// before's plus one), then returns that many bytes, which alias b.
func (d *fastDecoder) body(width int) []byte {
	d.off++
	return d.next(d.length(width, 1))
}

func (d *fastDecoder) str() string { return string(d.rawString()) }

// int64 reads any msgpack integer that fits an int64.
func (d *fastDecoder) int64() int64 {
	c := d.peek()
	switch {
	case d.bad:
		return 0
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		d.off++
		return int64(int8(c))
	}
	d.off++
	switch c {
	case mpUint8:
		if s := d.next(1); s != nil {
			return int64(s[0])
		}
	case mpUint16:
		if s := d.next(2); s != nil {
			return int64(binary.BigEndian.Uint16(s))
		}
	case mpUint32:
		if s := d.next(4); s != nil {
			return int64(binary.BigEndian.Uint32(s))
		}
	case mpUint64:
		if s := d.next(8); s != nil {
			if u := binary.BigEndian.Uint64(s); u <= math.MaxInt64 {
				return int64(u)
			}
			d.decline()
		}
	case mpInt8:
		if s := d.next(1); s != nil {
			return int64(int8(s[0]))
		}
	case mpInt16:
		if s := d.next(2); s != nil {
			return int64(int16(binary.BigEndian.Uint16(s)))
		}
	case mpInt32:
		if s := d.next(4); s != nil {
			return int64(int32(binary.BigEndian.Uint32(s)))
		}
	case mpInt64:
		if s := d.next(8); s != nil {
			return int64(binary.BigEndian.Uint64(s))
		}
	default:
		d.decline()
	}
	return 0
}

// int reads an integer into an int field; one that does not fit declines.
func (d *fastDecoder) int() int {
	v := d.int64()
	if int64(int(v)) != v {
		d.decline()
		return 0
	}
	return int(v)
}

func (d *fastDecoder) bool() bool {
	switch d.peek() {
	case mpFalse:
		d.off++
		return false
	case mpTrue:
		d.off++
		return true
	}
	d.decline()
	return false
}

// strings reads an array of strings into a []string field.
func (d *fastDecoder) strings() []string {
	n := d.arrayLen()
	if d.bad {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

// stringMap reads a map of str to str into a map[string]string field (see
// readMap); a value of any other format, nil included, declines.
func (d *fastDecoder) stringMap() map[string]string {
	return readMap(d, 0, func(d *fastDecoder, _ int) string { return d.str() })
}

// value reads a free-form value as the reflective decoder does into an
// `any` with the log's handle: integers as int64, floats as float64,
// str and bin as string, arrays as []any, maps as map[string]any.
func (d *fastDecoder) value(depth int) any {
	c := d.peek()
	switch {
	case d.bad:
		return nil
	case c <= 0x7f || c >= 0xe0 || (c >= mpUint8 && c <= mpInt64):
		return d.int64()
	case c == mpNil:
		d.off++
		return nil
	case c == mpFalse, c == mpTrue:
		return d.bool()
	case c == mpFloat32:
		d.off++
		if s := d.next(4); s != nil {
			return float64(math.Float32frombits(binary.BigEndian.Uint32(s)))
		}
		return nil
	case c == mpFloat64:
		d.off++
		if s := d.next(8); s != nil {
			return math.Float64frombits(binary.BigEndian.Uint64(s))
		}
		return nil
	case c >= 0xa0 && c <= 0xbf, c == mpStr8, c == mpStr16, c == mpStr32:
		return d.str()
	case c == mpBin8, c == mpBin16, c == mpBin32:
		return string(d.body(1 << (c - mpBin8)))
	case c >= 0x90 && c <= 0x9f, c == mpArray16, c == mpArray32:
		if depth >= maxFastDepth {
			d.decline()
			return nil
		}
		return d.anySlice(depth + 1)
	case c >= 0x80 && c <= 0x8f, c == mpMap16, c == mpMap32:
		if depth >= maxFastDepth {
			d.decline()
			return nil
		}
		return d.anyMap(depth + 1)
	}
	d.decline() // extensions
	return nil
}

// anySlice reads an array into a []any; an empty array gives an empty,
// non-nil slice, as in the reflective decoder.
func (d *fastDecoder) anySlice(depth int) []any {
	n := d.arrayLen()
	if d.bad {
		return nil
	}
	out := make([]any, n)
	for i := range out {
		out[i] = d.value(depth)
	}
	return out
}

// anyMap reads a map with string keys into a map[string]any (see readMap).
func (d *fastDecoder) anyMap(depth int) map[string]any {
	return readMap(d, depth, (*fastDecoder).value)
}

// readMap reads a map with string keys, each value with read(d, depth); an
// empty map gives an empty, non-nil map, as in the reflective decoder. A
// repeated key declines (the reflective decoder decodes into the value
// already there).
func readMap[V any](d *fastDecoder, depth int, read func(*fastDecoder, int) V) map[string]V {
	n := d.mapLen()
	if d.bad {
		return nil
	}
	out := make(map[string]V, n)
	for range n {
		k := d.str()
		if _, dup := out[k]; dup {
			d.decline()
		}
		if d.bad {
			return nil
		}
		out[k] = read(d, depth)
	}
	return out
}

// member is one field of a payload's codec map: its key (the codec tag)
// and how its value is read into the payload.
type member[T any] struct {
	name string
	read func(d *fastDecoder, p *T)
}

// readMembers reads a payload's map into p, each key one of table's. The
// one loop every payload is read by.
func readMembers[T any](d *fastDecoder, table []member[T], p *T) {
	var seen uint32
	for n := d.mapLen(); n > 0 && !d.bad; n-- {
		if i := field(d, table, &seen); i >= 0 {
			table[i].read(d, p)
		}
	}
}

// field reads the key of a payload's next field and returns its index in
// table. It returns -1, having consumed the value, when the value is nil:
// the reflective decoder sets the field to its zero value then, and every
// field starts zero. An unknown key, or one already seen (seen holds a bit
// per index), declines and returns -1.
func field[T any](d *fastDecoder, table []member[T], seen *uint32) int {
	k := d.rawString()
	if d.bad {
		return -1
	}
	for i := range table {
		if string(k) != table[i].name {
			continue
		}
		if *seen&(1<<i) != 0 {
			break
		}
		*seen |= 1 << i
		if d.peek() == mpNil && !d.bad {
			d.off++
			return -1
		}
		return i
	}
	d.decline()
	return -1
}

// The members of each payload, named by their codec tags.
var (
	specMembers = []member[TaskSpec]{
		{"f", func(d *fastDecoder, p *TaskSpec) { p.Func = d.str() }},
		{"a", func(d *fastDecoder, p *TaskSpec) { p.Args = d.anySlice(1) }},
		{"k", func(d *fastDecoder, p *TaskSpec) { p.Kwargs = d.anyMap(1) }},
		{"q", func(d *fastDecoder, p *TaskSpec) { p.Queue = d.str() }},
		{"p", func(d *fastDecoder, p *TaskSpec) { p.Priority = d.int() }},
		{"ttl", func(d *fastDecoder, p *TaskSpec) { p.TTL = time.Duration(d.int64()) }},
		{"r", func(d *fastDecoder, p *TaskSpec) { p.Retries = d.int() }},
		{"mr", func(d *fastDecoder, p *TaskSpec) { p.MaxRetries = d.int() }},
		{"d", func(d *fastDecoder, p *TaskSpec) { p.DependsOn = d.strings() }},
		{"at", func(d *fastDecoder, p *TaskSpec) { p.RunAt = Timestamp(d.int64()) }},
		{"ps", func(d *fastDecoder, p *TaskSpec) { p.Paused = d.bool() }},
		{"s", func(d *fastDecoder, p *TaskSpec) { p.ScheduleID = d.str() }},
		{"m", func(d *fastDecoder, p *TaskSpec) { p.Meta = d.stringMap() }},
	}
	enqueuedMembers = []member[TaskEnqueued]{
		{"t", func(d *fastDecoder, p *TaskEnqueued) { readMembers(d, specMembers, &p.Spec) }},
	}
	leasedMembers = []member[TaskLeased]{
		{"n", func(d *fastDecoder, p *TaskLeased) { p.Attempt = d.int() }},
		{"dl", func(d *fastDecoder, p *TaskLeased) { p.Deadline = Timestamp(d.int64()) }},
		{"w", func(d *fastDecoder, p *TaskLeased) { p.Worker = d.str() }},
	}
	heartbeatMembers = []member[TaskHeartbeat]{
		{"n", func(d *fastDecoder, p *TaskHeartbeat) { p.Attempt = d.int() }},
		{"dl", func(d *fastDecoder, p *TaskHeartbeat) { p.Deadline = Timestamp(d.int64()) }},
	}
	completedMembers = []member[TaskCompleted]{
		{"n", func(d *fastDecoder, p *TaskCompleted) { p.Attempt = d.int() }},
		{"res", func(d *fastDecoder, p *TaskCompleted) { p.Result = d.value(1) }},
	}
	failedMembers = []member[TaskFailed]{
		{"n", func(d *fastDecoder, p *TaskFailed) { p.Attempt = d.int() }},
		{"e", func(d *fastDecoder, p *TaskFailed) { p.Error = d.str() }},
	}
	retryScheduledMembers = []member[TaskRetryScheduled]{
		{"n", func(d *fastDecoder, p *TaskRetryScheduled) { p.Attempt = d.int() }},
		{"e", func(d *fastDecoder, p *TaskRetryScheduled) { p.Error = d.str() }},
		{"at", func(d *fastDecoder, p *TaskRetryScheduled) { p.RetryAt = Timestamp(d.int64()) }},
	}
	leaseExpiredMembers = []member[TaskLeaseExpired]{
		{"n", func(d *fastDecoder, p *TaskLeaseExpired) { p.Attempt = d.int() }},
	}
	retriedMembers = []member[TaskRetried]{
		{"n", func(d *fastDecoder, p *TaskRetried) { p.Attempt = d.int() }},
	}
	cancelledMembers = []member[TaskCancelled]{
		{"r", func(d *fastDecoder, p *TaskCancelled) { p.Reason = CancelReason(d.str()) }},
		{"d", func(d *fastDecoder, p *TaskCancelled) { p.Dependency = d.str() }},
	}
	// queueMembers: the payload of queue.paused and queue.resumed, its
	// queue's name.
	queueMembers = []member[string]{
		{"q", func(d *fastDecoder, q *string) { *q = d.str() }},
	}
	compactingMembers = []member[LogCompacting]{
		{"h", func(d *fastDecoder, p *LogCompacting) { p.Hold = time.Duration(d.int()) }},
		{"nd", func(d *fastDecoder, p *LogCompacting) { p.Node = d.str() }},
	}
	scheduleCreatedMembers = []member[ScheduleCreated]{
		{"t", func(d *fastDecoder, p *ScheduleCreated) { readMembers(d, specMembers, &p.Template) }},
		{"c", func(d *fastDecoder, p *ScheduleCreated) { p.Cron = d.str() }},
		{"i", func(d *fastDecoder, p *ScheduleCreated) { p.Interval = time.Duration(d.int64()) }},
		{"nf", func(d *fastDecoder, p *ScheduleCreated) { p.NextFire = Timestamp(d.int64()) }},
		{"ps", func(d *fastDecoder, p *ScheduleCreated) { p.Paused = d.bool() }},
	}
	scheduleFiredMembers = []member[ScheduleFired]{
		{"ft", func(d *fastDecoder, p *ScheduleFired) { p.FireTime = Timestamp(d.int64()) }},
		{"in", func(d *fastDecoder, p *ScheduleFired) { p.Instance = d.str() }},
		{"nf", func(d *fastDecoder, p *ScheduleFired) { p.NextFire = Timestamp(d.int64()) }},
	}
	scheduleResumedMembers = []member[ScheduleResumed]{
		{"nf", func(d *fastDecoder, p *ScheduleResumed) { p.NextFire = Timestamp(d.int64()) }},
	}
	// The checkpoint payloads are here for their state bytes, not for
	// speed: the reflective decoder grows a byte slice MaxInitLen bytes at
	// a time, copying it whole each time, which costs some 16 MB of garbage
	// per 512 KiB part; bin copies each in one allocation of its size.
	checkpointMembers = []member[LogCheckpoint]{
		{"st", func(d *fastDecoder, p *LogCheckpoint) { p.State = d.bin() }},
		{"b", func(d *fastDecoder, p *LogCheckpoint) { p.Before = Timestamp(d.int64()) }},
		{"ar", func(d *fastDecoder, p *LogCheckpoint) { p.Archive = d.str() }},
		{"dr", func(d *fastDecoder, p *LogCheckpoint) { p.Dropped = d.int() }},
		{"pa", func(d *fastDecoder, p *LogCheckpoint) { p.Parts = d.int() }},
		{"el", func(d *fastDecoder, p *LogCheckpoint) { p.Elided = d.bool() }},
	}
	checkpointPartMembers = []member[LogCheckpointPart]{
		{"i", func(d *fastDecoder, p *LogCheckpointPart) { p.Index = d.int() }},
		{"d", func(d *fastDecoder, p *LogCheckpointPart) { p.Data = d.bin() }},
	}
)

// bin reads a msgpack bin (not str) into a []byte of its own: the record it
// is read from may be read into again. An empty bin gives an empty, non-nil
// slice, as in the reflective decoder.
func (d *fastDecoder) bin() []byte {
	c := d.peek()
	var s []byte
	switch {
	case d.bad:
		return nil
	case c == mpBin8, c == mpBin16, c == mpBin32:
		s = d.body(1 << (c - mpBin8))
	default:
		d.decline()
		return nil
	}
	if d.bad {
		return nil
	}
	return append(make([]byte, 0, len(s)), s...)
}

// empty reads a payload without fields: any key declines.
func (d *fastDecoder) empty() {
	if d.mapLen() != 0 {
		d.decline()
	}
}
