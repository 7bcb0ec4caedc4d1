package wire

import (
	"bytes"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The hand-written decoder of the task wire forms (TaskSpec, Batch,
// OutcomesRequest for the server; Task, TaskList, OutcomesAnswer for the
// client), with encoding/json as its fallback.
//
// INVARIANT: decodeFast either fills v exactly as the reflection decoder
// (decodeReflect) would, or reports false and leaves v untouched, and then
// decode runs decodeReflect on the same bytes: so results and errors are
// always the reflection decoder's. The fast parser gives up on anything it
// is not certain about: a key not in its exact spelling (encoding/json also
// matches keys case-insensitively), a duplicate key, an unknown key in a
// request (refused there) or one that is not ASCII or that matches a member
// but for case, a type it does not expect, a null where
// encoding/json would store a zero, a lone surrogate or invalid UTF-8 in a
// string, a number out of range, nesting deeper than maxFastDepth, trailing
// data, a target that is not the zero value (encoding/json merges into it).
// It never reports an error itself.
//
// The file holds the parser's primitives (white space, strings, numbers,
// free-form values), then readMembers, the one loop that reads a struct's
// object, and the tables of members it reads for each wire form.

// maxFastDepth bounds the nesting of free-form values the fast parser
// follows; deeper ones go to encoding/json (which has its own limit).
const maxFastDepth = 200

// decodeFast decodes data into v when v is one of the task wire forms and
// its zero value, and data is in the form the fast parser knows.
func decodeFast(data []byte, v any, strict bool) bool {
	p := &parser{data: data, skipUnknown: !strict}
	switch x := v.(type) {
	case *TaskSpec:
		var t Task
		if !readMembers(p, specMembers, &t) || !p.end(strict) {
			return false
		}
		*x = t.TaskSpec
		return true
	case *Task:
		return readWhole(p, taskMembers, x, strict)
	case *Batch:
		return readWhole(p, batchMembers, x, strict)
	case *TaskList:
		return readWhole(p, taskListMembers, x, strict)
	case *OutcomesRequest:
		return readWhole(p, outcomesRequestMembers, x, strict)
	case *OutcomesAnswer:
		return readWhole(p, outcomesAnswerMembers, x, strict)
	}
	return false
}

// readWhole reads the object of table's members that data holds into *x,
// which it sets only when the whole object, and what follows (p.end), was
// read.
func readWhole[T any](p *parser, table []member[T], x *T, strict bool) bool {
	var v T
	if !readMembers(p, table, &v) || !p.end(strict) {
		return false
	}
	*x = v
	return true
}

// fastTarget reports whether decodeFast may decode into v: one of its
// types, not nil, and zero (encoding/json merges into what v holds).
func fastTarget(v any) bool {
	switch x := v.(type) {
	case *TaskSpec:
		return x != nil && reflect.ValueOf(x).Elem().IsZero()
	case *Task:
		return x != nil && reflect.ValueOf(x).Elem().IsZero()
	case *Batch:
		return x != nil && x.Tasks == nil
	case *TaskList:
		return x != nil && x.Tasks == nil
	case *OutcomesRequest:
		return x != nil && x.Outcomes == nil && x.Lease == nil
	case *OutcomesAnswer:
		return x != nil && x.Outcomes == nil && x.Tasks == nil
	}
	return false
}

// parser reads JSON from data at i. Its methods report false when they
// give up, with i anywhere.
type parser struct {
	data []byte
	i    int
	// skipUnknown: a key that names no member is passed over with its
	// value, as encoding/json does for an answer, so that an answer from a
	// newer daemon (with members this client does not know) stays on the
	// fast path. A request refuses such a key (DisallowUnknownFields).
	skipUnknown bool
}

// next skips white space and returns the byte there, 0 at the end.
func (p *parser) next() byte {
	for p.i < len(p.data) {
		switch c := p.data[p.i]; c {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return c
		}
	}
	return 0
}

// consume reads c, after white space.
func (p *parser) consume(c byte) bool {
	if p.next() == c {
		p.i++
		return true
	}
	return false
}

// end checks what follows the value: nothing but white space when strict;
// for an answer, whatever follows is not read (as json.Decoder.Decode).
func (p *parser) end(strict bool) bool {
	if !strict {
		return true
	}
	return p.next() == 0 && p.i == len(p.data)
}

// literal reads the word w (true, false, null).
func (p *parser) literal(w string) bool {
	if p.next() == w[0] && bytes.HasPrefix(p.data[p.i:], []byte(w)) {
		p.i += len(w)
		return true
	}
	return false
}

// null reads null if it is next, and reports whether it was.
func (p *parser) null() bool {
	return p.literal("null")
}

// open reads the opening byte of an object ('{', '}') or an array ('[',
// ']') and reports whether members or elements follow before its closing
// byte.
func (p *parser) open(opening, closing byte) (more, ok bool) {
	if !p.consume(opening) {
		return false, false
	}
	if p.consume(closing) {
		return false, true
	}
	return true, true
}

// more reads the ',' before another member or element (true), or the
// closing byte (false); ok is false for anything else. The loops over an
// object or array read
//
//	more, ok := p.open('[', ']')
//	for ; more; more, ok = p.more(']') { … }
//
// and give up after the loop unless ok.
func (p *parser) more(closing byte) (more, ok bool) {
	switch p.next() {
	case ',':
		p.i++
		return true, true
	case closing:
		p.i++
		return false, true
	}
	return false, false
}

// key reads a member name of a struct and its ':'. It returns the raw
// bytes, which must match a field's name exactly: a name with an escape is
// refused.
func (p *parser) key() ([]byte, bool) {
	if p.next() != '"' {
		return nil, false
	}
	start := p.i + 1
	for i := start; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.i = i + 1
			if !p.consume(':') {
				return nil, false
			}
			return p.data[start:i], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// rawString reads a string and returns it with its quotes, unescaped, for
// an Unmarshaler.
func (p *parser) rawString() ([]byte, bool) {
	start := p.i
	if _, ok := p.str(); !ok {
		return nil, false
	}
	return p.data[start:p.i], true
}

// str reads a string value.
func (p *parser) str() (string, bool) {
	if p.next() != '"' {
		return "", false
	}
	p.i++
	start := p.i
	for p.i < len(p.data) {
		for p.i < len(p.data) && plainByte[p.data[p.i]] {
			p.i++
		}
		if p.i == len(p.data) {
			break
		}
		c := p.data[p.i]
		switch {
		case c == '"':
			s := intern(p.data[start:p.i])
			p.i++
			return s, true
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", false
		default: // past ASCII
			r, size := utf8.DecodeRune(p.data[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false // encoding/json writes U+FFFD for it
			}
			p.i += size
		}
	}
	return "", false
}

// plainByte[c] is true for the bytes a string holds as they are: ASCII
// but for control characters, the quote and the backslash.
var plainByte [256]bool

func init() {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plainByte[c] = c != '"' && c != '\\'
	}
}

// intern returns b as a string, without allocating for the words every
// task carries (its state, the default queue).
func intern(b []byte) string {
	switch string(b) {
	case "waiting":
		return "waiting"
	case "pending":
		return "pending"
	case "running":
		return "running"
	case "completed":
		return "completed"
	case "failed":
		return "failed"
	case "expired":
		return "expired"
	case "cancelled":
		return "cancelled"
	case "scheduled":
		return "scheduled"
	case "default":
		return "default"
	case "":
		return ""
	}
	return string(b)
}

// strEscaped reads the rest of a string, from the first backslash on;
// start is where its text began.
func (p *parser) strEscaped(start int) (string, bool) {
	out := make([]byte, 0, p.i-start+16)
	out = append(out, p.data[start:p.i]...)
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c == '\\':
			if p.i+1 >= len(p.data) {
				return "", false
			}
			e := p.data[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					// Only a valid pair; encoding/json writes U+FFFD for
					// a lone half.
					if p.i+1 >= len(p.data) || p.data[p.i] != '\\' || p.data[p.i+1] != 'u' {
						return "", false
					}
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", false
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return "", false
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.data[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			out = append(out, p.data[p.i:p.i+size]...)
			p.i += size
		}
	}
	return "", false
}

// hex4 reads the four hex digits of a \u escape.
func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.i : p.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}

// number reads a number in JSON's grammar and returns its text, and
// whether it is written as an integer (no fraction, no exponent).
func (p *parser) number() (raw []byte, integer, ok bool) {
	p.next()
	d, i := p.data, p.i
	start := i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return nil, false, false
	}
	integer = true
	if i < len(d) && d[i] == '.' {
		integer = false
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return nil, false, false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return nil, false, false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	p.i = i
	return d[start:i], integer, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// smallInt parses an integer of at most 18 digits (and a sign), which
// always fits an int64.
func smallInt(raw []byte) (int64, bool) {
	neg := raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// intField reads a number into an int field as encoding/json does
// (strconv.ParseInt, then the int's range); null is false, as is any
// other form.
func (p *parser) intField() (int, bool) {
	raw, integer, ok := p.number()
	if !ok || !integer {
		return 0, false
	}
	n, ok := smallInt(raw)
	if !ok {
		var err error
		if n, err = strconv.ParseInt(string(raw), 10, 64); err != nil || int64(int(n)) != n {
			return 0, false
		}
	}
	return int(n), true
}

// duration reads a Duration field: its UnmarshalJSON gets the raw value,
// as encoding/json gives it.
func (p *parser) duration(d *Duration) bool {
	var raw []byte
	switch c := p.next(); {
	case c == '"':
		var ok bool
		if raw, ok = p.rawString(); !ok {
			return false
		}
	case c == '-' || isDigit(c):
		var ok bool
		if raw, _, ok = p.number(); !ok {
			return false
		}
	default:
		return false
	}
	return d.UnmarshalJSON(raw) == nil
}

// time reads a time field: time.Time.UnmarshalJSON gets the raw string,
// as encoding/json gives it.
func (p *parser) time(t *time.Time) bool {
	raw, ok := p.rawString()
	return ok && t.UnmarshalJSON(raw) == nil
}

func (p *parser) boolean() (bool, bool) {
	switch p.next() {
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	}
	return false, false
}

// readArray reads an array whose elements read reads; a null element is
// refused unless read takes it.
func readArray[E any](p *parser, read func(p *parser) (E, bool)) ([]E, bool) {
	out := []E{}
	more, ok := p.open('[', ']')
	for ; more; more, ok = p.more(']') {
		e, eok := read(p)
		if !eok {
			return nil, false
		}
		out = append(out, e)
	}
	if !ok {
		return nil, false
	}
	return out, true
}

// readMap reads an object whose values read reads; a repeated key keeps
// its last value, as encoding/json does.
func readMap[V any](p *parser, read func(p *parser) (V, bool)) (map[string]V, bool) {
	out := map[string]V{}
	more, ok := p.open('{', '}')
	for ; more; more, ok = p.more('}') {
		k, kok := p.str()
		if !kok || !p.consume(':') {
			return nil, false
		}
		v, vok := read(p)
		if !vok {
			return nil, false
		}
		out[k] = v
	}
	if !ok {
		return nil, false
	}
	return out, true
}

// strings reads an array of strings; null elements are refused.
func (p *parser) strings() ([]string, bool) {
	return readArray(p, (*parser).str)
}

// stringMap reads an object of strings; null values are refused.
func (p *parser) stringMap() (map[string]string, bool) {
	return readMap(p, (*parser).str)
}

// value reads a free-form value as DecodeStrict gives it: integers as
// int64 when in range, other numbers float64, objects map[string]any,
// arrays []any.
func (p *parser) value(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	switch c := p.next(); {
	case c == '"':
		return p.str()
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == 't' || c == 'f':
		return p.boolean()
	case c == 'n':
		return nil, p.null()
	case c == '-' || isDigit(c):
		raw, integer, ok := p.number()
		if !ok {
			return nil, false
		}
		return numberValue(raw, integer)
	}
	return nil, false
}

// numberValue is normalizeNumbers for a number's text.
func numberValue(raw []byte, integer bool) (any, bool) {
	if integer {
		if n, ok := smallInt(raw); ok {
			return n, true
		}
	}
	s := string(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, false // out of range: normalizeNumbers refuses it
	}
	return f, true
}

// array reads a free-form array.
func (p *parser) array(depth int) ([]any, bool) {
	return readArray(p, func(p *parser) (any, bool) { return p.value(depth) })
}

// object reads a free-form object.
func (p *parser) object(depth int) (map[string]any, bool) {
	return readMap(p, func(p *parser) (any, bool) { return p.value(depth) })
}

// strTo reads a string into *s.
func (p *parser) strTo(s *string) (ok bool) {
	*s, ok = p.str()
	return ok
}

// intTo reads an int field into *n.
func (p *parser) intTo(n *int) (ok bool) {
	*n, ok = p.intField()
	return ok
}

// member is one member of the object a struct T is written as: its name,
// exactly as written, and how its value is read into a T.
type member[T any] struct {
	name string
	read func(p *parser, x *T) bool
}

// readMembers reads an object whose members are all in table, each at most
// once, into x; a null member leaves its field zero, as encoding/json
// leaves it in a zero target. An empty object is fine.
//
// INVARIANT: a table has at most 64 members (one bit each in seen).
func readMembers[T any](p *parser, table []member[T], x *T) bool {
	var seen uint64
	f := 0 // where the search for the next name starts
	more, ok := p.open('{', '}')
	for ; more; more, ok = p.more('}') {
		key, kok := p.key()
		if !kok {
			return false
		}
		i := memberIndex(table, key, f)
		if i < 0 {
			// encoding/json would ignore the key only if no member matches
			// it, also case-insensitively (with Unicode folds: hence ASCII
			// only), and would still check the value's syntax.
			if !p.skipUnknown || !noMemberFolds(table, key) {
				return false
			}
			if _, ok := p.value(0); !ok {
				return false
			}
			continue
		}
		if f = i; seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		if !p.null() && !table[f].read(p, x) {
			return false
		}
		f++
	}
	return ok
}

// memberIndex returns the index in table of the member named key, -1 for
// none. It looks from the index from on, round to the start: the encoders
// write members in table order, so the next one is most often the first
// looked at.
func memberIndex[T any](table []member[T], key []byte, from int) int {
	for i := range table {
		j := from + i
		if j >= len(table) {
			j -= len(table)
		}
		if table[j].name == string(key) {
			return j
		}
	}
	return -1
}

// noMemberFolds reports whether key is ASCII and no member's name equals
// it without regard to case.
func noMemberFolds[T any](table []member[T], key []byte) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, m := range table {
		if bytes.EqualFold([]byte(m.name), key) {
			return false
		}
	}
	return true
}

// readNew reads an object of table's members into a new T.
func readNew[T any](p *parser, table []member[T]) (*T, bool) {
	x := new(T)
	if !readMembers(p, table, x) {
		return nil, false
	}
	return x, true
}

// readObjects reads an array of objects of table's members; a null
// element is refused.
func readObjects[T any](p *parser, table []member[T]) ([]T, bool) {
	out, ok := appendObjects(p, table, []T{})
	if !ok {
		return nil, false
	}
	return out, true
}

// appendObjects is readObjects appending to out, which it returns also
// when it gives up, with what it had appended.
func appendObjects[T any](p *parser, table []member[T], out []T) ([]T, bool) {
	more, ok := p.open('[', ']')
	for ; more; more, ok = p.more(']') {
		out = append(out, *new(T))
		if !readMembers(p, table, &out[len(out)-1]) {
			return out, false
		}
	}
	return out, ok
}

// specMembers are the members of a TaskSpec, read into a Task's TaskSpec.
var specMembers = []member[Task]{
	{"id", func(p *parser, t *Task) bool { return p.strTo(&t.ID) }},
	{"func", func(p *parser, t *Task) bool { return p.strTo(&t.Func) }},
	{"args", func(p *parser, t *Task) (ok bool) { t.Args, ok = p.array(1); return ok }},
	{"kwargs", func(p *parser, t *Task) (ok bool) { t.Kwargs, ok = p.object(1); return ok }},
	{"queue_name", func(p *parser, t *Task) bool { return p.strTo(&t.QueueName) }},
	{"priority", func(p *parser, t *Task) bool { return p.intTo(&t.Priority) }},
	{"ttl", func(p *parser, t *Task) bool { return p.duration(&t.TTL) }},
	{"retries", func(p *parser, t *Task) bool { return p.intTo(&t.Retries) }},
	{"max_retries", func(p *parser, t *Task) bool { return p.intTo(&t.MaxRetries) }},
	{"depends_on", func(p *parser, t *Task) (ok bool) { t.DependsOn, ok = p.strings(); return ok }},
	{"schedule", func(p *parser, t *Task) (ok bool) { t.Schedule, ok = readNew(p, scheduleMembers); return ok }},
	{"meta", func(p *parser, t *Task) (ok bool) { t.Meta, ok = p.stringMap(); return ok }},
}

// taskMembers are the members of a Task: TaskSpec's, then TaskInfo's.
var taskMembers = slices.Concat(specMembers, []member[Task]{
	{"state", func(p *parser, t *Task) bool { return p.strTo(&t.State) }},
	{"attempt", func(p *parser, t *Task) bool { return p.intTo(&t.Attempt) }},
	{"result", func(p *parser, t *Task) (ok bool) { t.Result, ok = p.value(0); return ok }},
	{"error", func(p *parser, t *Task) bool { return p.strTo(&t.Error) }},
	{"created_at", func(p *parser, t *Task) bool { return p.time(&t.CreatedAt) }},
	{"updated_at", func(p *parser, t *Task) bool { return p.time(&t.UpdatedAt) }},
	{"finished_at", func(p *parser, t *Task) bool { return p.time(&t.FinishedAt) }},
	{"lease_deadline", func(p *parser, t *Task) bool { return p.time(&t.LeaseDeadline) }},
	{"ready_at", func(p *parser, t *Task) bool { return p.time(&t.ReadyAt) }},
	{"schedule_id", func(p *parser, t *Task) bool { return p.strTo(&t.ScheduleID) }},
	{"next_run_at", func(p *parser, t *Task) bool { return p.time(&t.NextRunAt) }},
	{"fires", func(p *parser, t *Task) bool { return p.intTo(&t.Fires) }},
	{"cancelled_by", func(p *parser, t *Task) bool { return p.strTo(&t.CancelledBy) }},
})

var scheduleMembers = []member[Schedule]{
	{"run_at", func(p *parser, s *Schedule) bool { return p.time(&s.RunAt) }},
	{"cron", func(p *parser, s *Schedule) bool { return p.strTo(&s.Cron) }},
	{"interval", func(p *parser, s *Schedule) bool { return p.duration(&s.Interval) }},
	{"paused", func(p *parser, s *Schedule) (ok bool) { s.Paused, ok = p.boolean(); return ok }},
}

var batchMembers = []member[Batch]{
	{"tasks", func(p *parser, b *Batch) (ok bool) { b.Tasks, _, ok = p.tasks(false); return ok }},
}

var taskListMembers = []member[TaskList]{
	{"tasks", func(p *parser, l *TaskList) (ok bool) { _, l.Tasks, ok = p.tasks(true); return ok }},
}

var outcomesRequestMembers = []member[OutcomesRequest]{
	{"outcomes", func(p *parser, r *OutcomesRequest) (ok bool) {
		r.Outcomes, ok = readObjects(p, outcomeSpecMembers)
		return ok
	}},
	{"lease", func(p *parser, r *OutcomesRequest) (ok bool) { r.Lease, ok = readNew(p, leaseMembers); return ok }},
}

var outcomeSpecMembers = []member[OutcomeSpec]{
	{"id", func(p *parser, o *OutcomeSpec) bool { return p.strTo(&o.ID) }},
	{"attempt", func(p *parser, o *OutcomeSpec) bool { return p.intTo(&o.Attempt) }},
	{"result", func(p *parser, o *OutcomeSpec) (ok bool) { o.Result, ok = p.value(0); return ok }},
	{"error", func(p *parser, o *OutcomeSpec) bool { o.Error = new(string); return p.strTo(o.Error) }},
}

var leaseMembers = []member[LeaseSpec]{
	{"queues", func(p *parser, l *LeaseSpec) (ok bool) { l.Queues, ok = p.strings(); return ok }},
	{"n", func(p *parser, l *LeaseSpec) bool { return p.intTo(&l.N) }},
	{"wait", func(p *parser, l *LeaseSpec) bool { return p.duration(&l.Wait) }},
}

var outcomesAnswerMembers = []member[OutcomesAnswer]{
	{"outcomes", func(p *parser, a *OutcomesAnswer) (ok bool) {
		a.Outcomes, ok = readObjects(p, outcomeAnswerMembers)
		return ok
	}},
	{"tasks", func(p *parser, a *OutcomesAnswer) (ok bool) { _, a.Tasks, ok = p.tasks(true); return ok }},
}

var outcomeAnswerMembers = []member[OutcomeAnswer]{
	{"state", func(p *parser, o *OutcomeAnswer) bool { return p.strTo(&o.State) }},
	{"error", func(p *parser, o *OutcomeAnswer) (ok bool) { o.Error, ok = readNew(p, errorDetailMembers); return ok }},
}

var errorDetailMembers = []member[ErrorDetail]{
	{"code", func(p *parser, e *ErrorDetail) bool { return p.strTo(&e.Code) }},
	{"reason", func(p *parser, e *ErrorDetail) bool { return p.strTo(&e.Reason) }},
	{"message", func(p *parser, e *ErrorDetail) bool { return p.strTo(&e.Message) }},
}

// tasks reads an array of task objects, with TaskInfo's members when info;
// a null element is refused. The tasks are parsed into a pooled scratch
// array and copied once into a slice of their number.
func (p *parser) tasks(info bool) (specs []TaskSpec, tasks []Task, ok bool) {
	table := specMembers
	if info {
		table = taskMembers
	}
	sp := scratchTasks.Get().(*[]Task)
	scratch := (*sp)[:0]
	defer func() {
		clear(scratch) // drop the references to what was decoded
		if cap(scratch) <= 1024 {
			*sp = scratch[:0]
			scratchTasks.Put(sp)
		}
	}()
	if scratch, ok = appendObjects(p, table, scratch); !ok {
		return nil, nil, false
	}
	if info {
		return nil, append([]Task{}, scratch...), true
	}
	specs = make([]TaskSpec, len(scratch))
	for i := range scratch {
		specs[i] = scratch[i].TaskSpec
	}
	return specs, nil, true
}

var scratchTasks = sync.Pool{New: func() any { return new([]Task) }}
