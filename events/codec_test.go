package events

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 4, 0, 0, 123456789, time.UTC)

// samples holds one event of every type, with non-zero fields.
func samples() []Event {
	spec := TaskSpec{
		Func: "add", Args: []any{int64(1), "two", 3.5, []any{true}}, Kwargs: map[string]any{"k": "v", "n": map[string]any{"x": int64(-7)}},
		Queue: "high", Priority: 10, TTL: time.Minute, Retries: 2, MaxRetries: 5, DependsOn: []string{"a", "b"},
		RunAt: At(t0.Add(time.Hour)), Paused: true, ScheduleID: "s1",
		Meta: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "k=v"},
	}
	ps := []Payload{
		&TaskEnqueued{Spec: spec},
		&TaskLeased{Attempt: 1, Deadline: At(t0.Add(30 * time.Second)), Worker: "w1"},
		&TaskHeartbeat{Attempt: 1, Deadline: At(t0.Add(time.Minute))},
		&TaskCompleted{Attempt: 1, Result: map[string]any{"sum": int64(30)}},
		&TaskFailed{Attempt: 3, Error: "boom"},
		&TaskRetryScheduled{Attempt: 2, Error: "later", RetryAt: At(t0.Add(time.Second))},
		&TaskLeaseExpired{Attempt: 4},
		&TaskExpired{},
		&TaskCancelled{Reason: CancelDependencyFailed, Dependency: "a"},
		&TaskDeleted{},
		&ScheduleCreated{Template: spec, Cron: "*/5 * * * *", NextFire: At(t0.Add(5 * time.Minute)), Paused: true},
		&ScheduleFired{FireTime: At(t0), Instance: "i1", NextFire: At(t0.Add(5 * time.Minute))},
		&SchedulePaused{},
		&ScheduleResumed{NextFire: At(t0)},
		&ScheduleDeleted{},
		&LogCheckpoint{State: []byte("OQS\x01state"), Before: At(t0), Archive: "file:///archive.jsonl", Dropped: 3, Parts: 1, Elided: true},
		&LogCheckpointPart{Index: 1, Data: []byte("OQS\x03part")},
		&TaskRetried{Attempt: 2},
		&QueuePaused{Queue: "emails"},
		&QueueResumed{Queue: "emails"},
		&LogCompacting{Hold: 5 * time.Second, Node: "node-1"},
	}
	evs := make([]Event, len(ps))
	for i, p := range ps {
		evs[i] = New("task-1", t0, p)
	}
	return evs
}

func TestEveryTypeHasASample(t *testing.T) {
	seen := map[Type]bool{}
	for _, e := range samples() {
		seen[e.Type()] = true
	}
	for ty := Type(1); ty < typeEnd; ty++ {
		if !seen[ty] {
			t.Errorf("no sample for %s", ty)
		}
		if got, ok := ParseType(ty.String()); !ok || got != ty {
			t.Errorf("ParseType(%q) = %v, %v", ty.String(), got, ok)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, e := range samples() {
		t.Run(e.Type().String(), func(t *testing.T) {
			b, err := Marshal(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, e)
			}
			again, _ := Marshal(nil, got)
			if string(again) != string(b) {
				t.Fatal("re-encoding differs: encoding is not deterministic")
			}
		})
	}
}

func TestBatchRoundTrip(t *testing.T) {
	evs := samples()
	b, err := MarshalBatch(nil, evs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalBatch(b, 41)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].Position = 41 + uint64(i)
	}
	if !reflect.DeepEqual(got, evs) {
		t.Fatal("batch round trip differs")
	}
	if _, err := UnmarshalBatch(b[:len(b)-1], 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated batch: err = %v, want ErrCorrupt", err)
	}
}

// TestEncodingWithoutMetaUnchanged: a spec without Meta encodes to the
// bytes it encoded to before TaskSpec had the field (recorded then), so
// the logs written since encode and decode as they did; one with Meta
// adds only its "m" entry.
func TestEncodingWithoutMetaUnchanged(t *testing.T) {
	const (
		plain = "010100000000000000000000000000000000aab4f280c1bbe5eb3102743181a17482a166a166a171a764656661756c74"
		rich  = "010100000000000000000000000000000000aab4f280c1bbe5eb31067461736b2d3181a1748ca1619401a374776fcb400c" +
			"00000000000091c3a26174d318ebce3438c6ed15a16492a161a162a166a3616464a16b82a16ba176a16e81a178f9a26d7205" +
			"a1700aa27073c3a171a468696768a17202a173a27331a374746cd30000000df8475800"
	)
	richEv := samples()[0]
	richEv.ID = [16]byte{}
	richEv.Payload.(*TaskEnqueued).Spec.Meta = nil
	evs := map[string]Event{
		plain: {Version: 1, TaskID: "t1", Time: t0, Payload: &TaskEnqueued{Spec: TaskSpec{Func: "f", Queue: "default"}}},
		rich:  richEv,
	}
	for want, e := range evs {
		b, err := Marshal(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != want {
			t.Errorf("%s:\n got %s\nwant %s", e.TaskID, got, want)
		}
		got, err := Unmarshal(b)
		if err != nil || got.Payload.(*TaskEnqueued).Spec.Meta != nil {
			t.Errorf("%s: decodes with Meta %v (%v)", e.TaskID, got.Payload, err)
		}
		// An empty Meta is left out like a nil one.
		e.Payload = &TaskEnqueued{Spec: e.Payload.(*TaskEnqueued).Spec}
		e.Payload.(*TaskEnqueued).Spec.Meta = map[string]string{}
		if b2, _ := Marshal(nil, e); !bytes.Equal(b2, b) {
			t.Errorf("%s: an empty Meta changes the encoding", e.TaskID)
		}
	}
	withMeta := evs[plain]
	withMeta.Payload = &TaskEnqueued{Spec: TaskSpec{Func: "f", Queue: "default", Meta: map[string]string{"b": "2", "a": "1"}}}
	b, err := Marshal(nil, withMeta)
	if err != nil {
		t.Fatal(err)
	}
	// The spec map gains one entry (0x82 -> 0x83): "m", with its keys sorted.
	want := strings.Replace(plain, "82a166a166a171", "83a166a166a16d82a161a131a162a132a171", 1)
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("with Meta:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Marshal(nil, samples()[0])
	unknown := append([]byte(nil), good...)
	unknown[1] = 200
	newer := append([]byte(nil), good...)
	newer[0] = 9
	trailing := append(append([]byte(nil), good...), 0xc0)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"short header", good[:10], ErrCorrupt},
		{"truncated payload", good[:len(good)-3], ErrCorrupt},
		{"unknown type", unknown, ErrUnknownType},
		{"newer version", newer, ErrNewerVersion},
		{"trailing bytes", trailing, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Unmarshal(c.in); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, e := range samples() {
		b, _ := Marshal(nil, e)
		f.Add(b)
	}
	b, _ := MarshalBatch(nil, samples())
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := Unmarshal(in)
		if err == nil {
			// Whatever decodes must re-encode and decode to the same event.
			out, err := Marshal(nil, ev)
			if err != nil {
				t.Fatalf("decoded event does not re-encode: %v", err)
			}
			if _, err := Unmarshal(out); err != nil {
				t.Fatalf("re-encoded event does not decode: %v", err)
			}
		}
		_, _ = UnmarshalBatch(in, 1)
	})
}

func BenchmarkMarshal(b *testing.B) {
	e := New("01JDTASKIDXXXXXXXXXXXXXXXX", t0, &TaskEnqueued{Spec: TaskSpec{Func: "noop", Queue: "default", Args: []any{int64(1)}}})
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = Marshal(buf[:0], e)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	e := New("01JDTASKIDXXXXXXXXXXXXXXXX", t0, &TaskEnqueued{Spec: TaskSpec{Func: "noop", Queue: "default", Args: []any{int64(1)}}})
	buf, _ := Marshal(nil, e)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckValue(t *testing.T) {
	type plain struct {
		A int
		B []string
		//lint:ignore U1000 present to be passed over: unexported, it is neither encoded nor checked
		c func()
	}
	cyclic := []any{nil}
	cyclic[0] = cyclic
	ok := []any{nil, 1, "s", 2.5, []byte("b"), map[string]any{"x": []any{1, "y"}}, plain{A: 1}, &plain{}, [2]int{}}
	bad := []any{func() {}, make(chan int), complex(1, 2), map[int]string{1: "x"}, []any{1, func() {}}, cyclic}
	for _, v := range ok {
		if err := CheckValue(v); err != nil {
			t.Errorf("CheckValue(%T) = %v", v, err)
		}
	}
	for _, v := range bad {
		if err := CheckValue(v); !errors.Is(err, ErrUnencodable) {
			t.Errorf("CheckValue(%T) = %v, want ErrUnencodable", v, err)
		}
	}
	if _, err := Marshal(nil, New("x", t0, &TaskCompleted{Result: func() {}})); !errors.Is(err, ErrUnencodable) {
		t.Errorf("Marshal of a func result = %v, want ErrUnencodable", err)
	}
}

// TestMarshalBatchLayout: a batch is its count and each record behind its
// length, whatever the length's width (records of 1, 2 and 3 length bytes).
func TestMarshalBatchLayout(t *testing.T) {
	evs := samples()
	for _, n := range []int{0, 100, 200, 20000} {
		evs = append(evs, Event{Version: 1, TaskID: "c", Time: t0, Payload: &LogCheckpoint{State: bytes.Repeat([]byte{7}, n), Before: At(t0)}})
	}
	want := binary.AppendUvarint(nil, uint64(len(evs)))
	for _, e := range evs {
		rec, err := Marshal(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		want = binary.AppendUvarint(want, uint64(len(rec)))
		want = append(want, rec...)
	}
	got, err := MarshalBatch([]byte("kept"), evs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append([]byte("kept"), want...)) {
		t.Fatalf("MarshalBatch: %d bytes, not the %d of count, lengths and records after dst", len(got), len(want)+4)
	}
}

// TestMarshalBatchLargeHeap: a batch holding a large checkpoint costs about
// its size in heap, not a chain of doublings and a scratch copy.
func TestMarshalBatchLargeHeap(t *testing.T) {
	const size = 8 << 20
	evs := []Event{
		{Version: 1, TaskID: "t", Time: t0, Payload: &TaskCompleted{Attempt: 1}},
		{Version: 1, TaskID: "c", Time: t0, Payload: &LogCheckpoint{State: make([]byte, size), Before: At(t0)}},
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b, err := MarshalBatch(nil, evs)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > size*5/4 {
		t.Fatalf("a batch of %d bytes allocated %d", len(b), got)
	}
}
