package events

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// sameValue is reflect.DeepEqual, except that floats compare by their bits:
// NaN equals NaN, and -0 differs from 0.
func sameValue(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float())
	case reflect.Interface, reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !sameValue(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// compareDecoders decodes payload bytes b of type t both ways. It reports
// whether the fast path took them, and fails t when it took them and the
// reflective decoder disagrees (an error, or another payload).
func compareDecoders(t *testing.T, ty Type, b []byte) (fast bool) {
	t.Helper()
	p := newPayload(ty)
	if p == nil || !decodeFast(p, b) {
		return false
	}
	want := newPayload(ty)
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		err = decodeReflect(want, b)
	}()
	if err != nil {
		t.Fatalf("%s %x: the fast path decoded %#v; the reflective decoder fails: %v", ty, b, p, err)
	}
	if !sameValue(reflect.ValueOf(p), reflect.ValueOf(want)) {
		t.Fatalf("%s %x:\n fast %#v\n want %#v", ty, b, p, want)
	}
	return true
}

// payloadBytes returns the msgpack encoding of p as a record holds it.
func payloadBytes(t testing.TB, p Payload) []byte {
	b, err := encode(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encodedVariants returns payloads that Marshal writes, covering every
// field of every payload type the fast path decodes, with zero, small,
// large and negative values and every kind of free-form value.
func encodedVariants() []Payload {
	var ps []Payload
	for _, e := range samples() {
		ps = append(ps, e.Payload)
	}
	free := []any{
		nil, true, false, int64(0), int64(-1), int64(-33), int64(127), int64(128), int64(-129), int64(1 << 20),
		int64(math.MaxInt64), int64(math.MinInt64), 3.25, math.Inf(-1), "", "s", string(make([]byte, 40)), string(make([]byte, 300)),
		[]byte("bin"), []any{}, map[string]any{}, []any{int64(1), []any{"x", map[string]any{"y": nil}}},
		map[string]any{"a": []any{}, "b": map[string]any{"c": 1.5}}, float32(1.5), uint64(math.MaxInt64), int8(-5),
	}
	for _, v := range free {
		ps = append(ps,
			&TaskCompleted{Attempt: 2, Result: v},
			&TaskEnqueued{Spec: TaskSpec{Func: "f", Queue: "q", Args: []any{v}, Kwargs: map[string]any{"v": v}}},
		)
	}
	for _, n := range []int{0, 1, -1, 127, 128, 255, 256, 65535, 65536, math.MaxInt32 + 1, math.MaxInt64, math.MinInt64} {
		ps = append(ps,
			&TaskLeased{Attempt: n, Deadline: Timestamp(n), Worker: "w"},
			&TaskHeartbeat{Attempt: n, Deadline: Timestamp(n)},
			&TaskRetryScheduled{Attempt: n, RetryAt: Timestamp(n)},
			&TaskEnqueued{Spec: TaskSpec{Priority: n, TTL: time.Duration(n), Retries: n, MaxRetries: n, RunAt: Timestamp(n)}},
			&ScheduleCreated{Interval: time.Duration(n), NextFire: Timestamp(n)},
			&TaskRetried{Attempt: n},
		)
	}
	ps = append(ps,
		&TaskEnqueued{},
		&TaskEnqueued{Spec: TaskSpec{DependsOn: []string{}}},
		&TaskEnqueued{Spec: TaskSpec{Func: "f", Meta: map[string]string{"k": ""}}},
		&TaskEnqueued{Spec: TaskSpec{Meta: map[string]string{"a": string(make([]byte, 300)), "b": "ü", string(make([]byte, 40)): "x"}}},
		&ScheduleCreated{Template: TaskSpec{Func: "f", Meta: map[string]string{"traceparent": "00-01"}}, Interval: time.Second},
		&TaskEnqueued{Spec: TaskSpec{Func: string(make([]byte, 70000)), DependsOn: make([]string, 70)}},
		&TaskLeased{},
		&TaskCompleted{},
		&TaskFailed{},
		&TaskCancelled{},
		&ScheduleCreated{},
		&ScheduleFired{},
		&ScheduleResumed{},
		&LogCheckpoint{},
		&LogCheckpoint{State: []byte{}, Parts: 3},
		&LogCheckpoint{State: make([]byte, 70000), Before: -1, Archive: "dir:/a", Dropped: 1 << 40, Parts: 1, Elided: true},
		&TaskRetried{},
		&QueuePaused{},
		&QueuePaused{Queue: "q"},
		&QueueResumed{Queue: string(make([]byte, 300))},
		&LogCompacting{},
		&LogCompacting{Hold: 90 * time.Second, Node: "node-1"},
		&LogCheckpointPart{},
		&LogCheckpointPart{Index: 300, Data: make([]byte, 300)},
		&LogCheckpointPart{Index: 1, Data: make([]byte, 512<<10)},
	)
	return ps
}

// TestFastDecodeMatchesReflect: every payload Marshal writes takes the fast
// path, and decodes as the reflective decoder decodes it.
func TestFastDecodeMatchesReflect(t *testing.T) {
	for i, p := range encodedVariants() {
		b := payloadBytes(t, p)
		if fast := compareDecoders(t, p.Type(), b); !fast {
			t.Errorf("variant %d, %s %x: fast path not taken", i, p.Type(), b)
		}
	}
}

// TestFastDecodeDeclines: bytes Marshal does not write, but the reflective
// decoder reads (or rejects), are either decoded as it decodes them or left
// to it.
func TestFastDecodeDeclines(t *testing.T) {
	cases := []struct {
		name string
		ty   Type
		in   []byte
		fast bool // whether the fast path should take it
	}{
		{"nil attempt", TypeTaskLeased, []byte{0x81, 0xa1, 'n', 0xc0}, true},
		{"nil spec", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0xc0}, true},
		{"nil result", TypeTaskCompleted, []byte{0x81, 0xa3, 'r', 'e', 's', 0xc0}, true},
		{"str8 key, uint8 and uint64 ints", TypeTaskLeased, []byte{0x82, 0xd9, 1, 'n', 0xcc, 200, 0xa2, 'd', 'l', 0xcf, 0, 0, 0, 0, 0, 0, 0, 9}, true},
		{"map16 header", TypeTaskLeaseExpired, []byte{0xde, 0, 1, 0xa1, 'n', 0x05}, true},
		{"float32 result", TypeTaskCompleted, []byte{0x81, 0xa3, 'r', 'e', 's', 0xca, 0x7f, 0xc0, 0, 0}, true},
		{"bin result", TypeTaskCompleted, []byte{0x81, 0xa3, 'r', 'e', 's', 0xc4, 2, 'h', 'i'}, true},
		{"array32 args", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'a', 0xdd, 0, 0, 0, 1, 0x01}, true},
		{"repeated field", TypeTaskLeased, []byte{0x82, 0xa1, 'n', 0x01, 0xa1, 'n', 0x02}, false},
		{"repeated nil field", TypeTaskLeased, []byte{0x82, 0xa1, 'n', 0xc0, 0xa1, 'n', 0x02}, false},
		{"repeated kwarg", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'k', 0x82, 0xa1, 'x', 0x01, 0xa1, 'x', 0x02}, false},
		{"empty meta", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0x80}, true},
		{"nil meta", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0xc0}, true},
		{"meta16 header", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0xde, 0, 1, 0xa1, 'x', 0xa1, 'y'}, true},
		{"repeated meta key", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0x82, 0xa1, 'x', 0xa1, 'y', 0xa1, 'x', 0xa1, 'z'}, false},
		{"nil meta value", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0x81, 0xa1, 'x', 0xc0}, false},
		{"int meta value", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0x81, 0xa1, 'x', 0x01}, false},
		{"bin meta value", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0x81, 0xa1, 'x', 0xc4, 1, 'y'}, false},
		{"meta as array", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'm', 0x91, 0xa1, 'x'}, false},
		{"unknown field", TypeTaskLeased, []byte{0x81, 0xa1, 'z', 0x01}, false},
		{"nil queue", TypeQueuePaused, []byte{0x81, 0xa1, 'q', 0xc0}, true},
		{"int queue", TypeQueueResumed, []byte{0x81, 0xa1, 'q', 0x01}, false},
		{"repeated queue", TypeQueuePaused, []byte{0x82, 0xa1, 'q', 0xa1, 'a', 0xa1, 'q', 0xa1, 'b'}, false},
		{"bin key", TypeTaskLeased, []byte{0x81, 0xc4, 1, 'n', 0x01}, false},
		{"struct as array", TypeTaskLeased, []byte{0x91, 0x01}, false},
		{"bool as int", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa2, 'p', 's', 0x01}, false},
		{"int as float", TypeTaskLeased, []byte{0x81, 0xa1, 'n', 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, false},
		{"uint64 past int64", TypeTaskLeased, []byte{0x81, 0xa1, 'n', 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, false},
		{"uint64 past int64 result", TypeTaskCompleted, []byte{0x81, 0xa3, 'r', 'e', 's', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false},
		{"string as bin", TypeTaskFailed, []byte{0x81, 0xa1, 'e', 0xc4, 1, 'x'}, false},
		{"extension result", TypeTaskCompleted, []byte{0x81, 0xa3, 'r', 'e', 's', 0xd4, 1, 0}, false},
		{"array claims more than is left", TypeTaskEnqueued, []byte{0x81, 0xa1, 't', 0x81, 0xa1, 'a', 0xdd, 0xff, 0xff, 0xff, 0xff}, false},
		{"truncated", TypeTaskLeased, []byte{0x82, 0xa1, 'n', 0x01}, false},
		{"trailing byte", TypeTaskLeased, []byte{0x81, 0xa1, 'n', 0x01, 0xc0}, false},
		{"field in an empty payload", TypeTaskDeleted, []byte{0x81, 0xa1, 'n', 0x01}, false},
		{"checkpoint", TypeLogCheckpoint, payloadBytes(t, &LogCheckpoint{State: []byte("x")}), true},
		{"empty part", TypeLogCheckpointPart, []byte{0x82, 0xa1, 'i', 0x00, 0xa1, 'd', 0xc4, 0}, true},
		{"nil part data", TypeLogCheckpointPart, []byte{0x82, 0xa1, 'i', 0x00, 0xa1, 'd', 0xc0}, true},
		{"str part data", TypeLogCheckpointPart, []byte{0x81, 0xa1, 'd', 0xa1, 'x'}, false},
		{"part data claims more than is left", TypeLogCheckpointPart, []byte{0x81, 0xa1, 'd', 0xc6, 0, 1, 0, 0, 'x'}, false},
	}
	nested := []byte{0x81, 0xa3, 'r', 'e', 's'}
	for range maxFastDepth + 1 {
		nested = append(nested, 0x91)
	}
	nested = append(nested, 0x01)
	cases = append(cases, struct {
		name string
		ty   Type
		in   []byte
		fast bool
	}{"nested too deep", TypeTaskCompleted, nested, false})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := compareDecoders(t, c.ty, c.in); got != c.fast {
				t.Fatalf("fast path taken = %v, want %v", got, c.fast)
			}
		})
	}
}

// FuzzFastDecode: whatever payload bytes the fast path takes, it decodes as
// the reflective decoder does.
func FuzzFastDecode(f *testing.F) {
	for _, p := range encodedVariants() {
		if b, err := encode(nil, p); err == nil && len(b) < 4096 {
			f.Add(byte(p.Type()), b)
		}
	}
	f.Fuzz(func(t *testing.T, ty byte, in []byte) {
		compareDecoders(t, Type(ty), in)
	})
}

// TestUnmarshalUsesEitherDecoder: Unmarshal gives the same event whether
// its payload takes the fast path or is left to the reflective decoder.
func TestUnmarshalUsesEitherDecoder(t *testing.T) {
	e := New("t", t0, &TaskLeased{Attempt: 3, Deadline: 7, Worker: "w"})
	canonical, err := Marshal(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	head := canonical[:len(canonical)-len(payloadBytes(t, e.Payload))]
	// The same payload with a field this build does not know, which the
	// reflective decoder skips and the fast path declines.
	unknown := []byte{0x84, 0xa1, 'w', 0xa1, 'w', 0xa2, 'z', 'z', 0x01, 0xa1, 'n', 0x03, 0xa2, 'd', 'l', 0x07}
	if decodeFast(newPayload(TypeTaskLeased), unknown) {
		t.Fatal("the fast path took a payload with an unknown field")
	}
	for _, b := range [][]byte{canonical, append(bytes.Clone(head), unknown...)} {
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("%x:\n got %#v\nwant %#v", b, got, e)
		}
	}
}

// BenchmarkDecodePayload decodes the payloads of one task's enqueue, lease
// and completion, the bulk of a replay, with each decoder.
func BenchmarkDecodePayload(b *testing.B) {
	ps := []Payload{
		&TaskEnqueued{Spec: TaskSpec{Func: "main", Queue: "bench-gen-0"}},
		&TaskLeased{Attempt: 1, Deadline: At(t0), Worker: "host-1234"},
		&TaskCompleted{Attempt: 1},
	}
	recs := make([][]byte, len(ps))
	for i, p := range ps {
		recs[i] = payloadBytes(b, p)
	}
	decoders := []struct {
		name   string
		decode func(Payload, []byte) bool
	}{
		{"fast", decodeFast},
		{"reflect", func(p Payload, b []byte) bool { return decodeReflect(p, b) == nil }},
	}
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i, r := range recs {
					if !d.decode(newPayload(ps[i].Type()), r) {
						b.Fatal("not decoded")
					}
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "payloads/s")
		})
	}
}

// TestFastEncodeMatchesCodec: for the payloads encodeFast takes, it writes
// the bytes the codec writes.
func TestFastEncodeMatchesCodec(t *testing.T) {
	ints := []int{0, 1, -1, 31, -32, -33, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769,
		65535, 65536, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxInt64, math.MinInt64}
	var ps []Payload
	for _, n := range ints {
		ps = append(ps,
			&LogCheckpointPart{Index: n, Data: []byte("x")},
			&LogCheckpoint{Before: Timestamp(n), Dropped: n, Parts: n},
		)
	}
	for _, size := range []int{0, 1, 255, 256, 65535, 65536, 512 << 10} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i)
		}
		ps = append(ps,
			&LogCheckpointPart{Index: 3, Data: data},
			&LogCheckpoint{State: data, Archive: string(data[:min(size, 300)]), Elided: size%2 == 0},
		)
	}
	ps = append(ps, &LogCheckpointPart{}, &LogCheckpoint{}, &LogCheckpoint{Archive: "dir:" + string(make([]byte, 31))})
	for i, p := range ps {
		want, err := encode(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeFast([]byte{0xff}, p)
		if !ok || got[0] != 0xff || !bytes.Equal(got[1:], want) {
			t.Fatalf("variant %d (%T): fast %x\ncodec %x", i, p, got[1:min(len(got), 40)], want[:min(len(want), 40)])
		}
	}
	if _, ok := encodeFast(nil, &TaskLeased{}); ok {
		t.Fatal("encodeFast took a task.leased")
	}
}
