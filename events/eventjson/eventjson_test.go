package eventjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
)

var t0 = time.Date(2026, 11, 27, 4, 0, 0, 123456789, time.UTC)

// samples holds one event of every type with every field set, and values
// that plain JSON cannot hold exactly.
func samples() []events.Event {
	spec := events.TaskSpec{
		Func: "add",
		Args: []any{int64(1), "two", 3.5, 2.0, -0.0, 1e300, math.Inf(1), math.Inf(-1), math.NaN(), int64(math.MinInt64),
			[]any{true, nil}, "\xff\xfe bad utf-8", "<&> \"quoted\" \n\t\x01", t0.Add(time.Nanosecond), []any{}},
		Kwargs: map[string]any{"k": "v", "n": map[string]any{"x": int64(-7)}, "tag": map[string]any{"$bytes": "not a tag"},
			"empty": map[string]any{}, "$": int64(1)},
		Queue: "high", Priority: -10, TTL: time.Minute + time.Nanosecond, Retries: 2, MaxRetries: 5, DependsOn: []string{"a", "b"},
		RunAt: events.At(t0.Add(time.Hour)), Paused: true, ScheduleID: "s1",
		Meta: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "bad": "\xff\xfe", "$bytes": "x"},
	}
	ps := []events.Payload{
		&events.TaskEnqueued{Spec: spec},
		&events.TaskLeased{Attempt: 1, Deadline: events.At(t0.Add(30 * time.Second)), Worker: "w1"},
		&events.TaskHeartbeat{Attempt: 1, Deadline: events.At(t0.Add(time.Minute))},
		&events.TaskCompleted{Attempt: 1, Result: map[string]any{"sum": int64(30), "f": 30.0}},
		&events.TaskFailed{Attempt: 3, Error: "boom \x00\xc3"},
		&events.TaskRetryScheduled{Attempt: 2, Error: "later", RetryAt: events.At(t0.Add(time.Second))},
		&events.TaskLeaseExpired{Attempt: 4},
		&events.TaskExpired{},
		&events.TaskCancelled{Reason: events.CancelDependencyFailed, Dependency: "a"},
		&events.TaskDeleted{},
		&events.ScheduleCreated{Template: spec, Cron: "*/5 * * * *", Interval: -time.Duration(math.MaxInt64) - 1, NextFire: events.At(t0.Add(5 * time.Minute)), Paused: true},
		&events.ScheduleFired{FireTime: events.At(t0), Instance: "i1", NextFire: events.At(t0.Add(5 * time.Minute))},
		&events.SchedulePaused{},
		&events.ScheduleResumed{NextFire: events.At(t0)},
		&events.ScheduleDeleted{},
		&events.LogCheckpoint{State: []byte("OQS\x01\x00\xffstate"), Before: events.At(t0), Archive: "file:///archive.jsonl", Dropped: 3, Parts: 2, Elided: true},
		&events.LogCheckpointPart{Index: 1, Data: []byte("\x00\xffpart")},
		&events.TaskRetried{Attempt: 3},
		&events.QueuePaused{Queue: "emails"},
		&events.QueueResumed{Queue: "emails \xff"},
		&events.LogCompacting{Hold: 5 * time.Second, Node: "node-1"},
	}
	evs := make([]events.Event, len(ps))
	for i, p := range ps {
		evs[i] = events.New("task-1", t0.Add(time.Duration(i)), p)
		evs[i].Position = uint64(i + 1)
	}
	return evs
}

// logged returns ev as a store gives it back: encoded and decoded.
func logged(t testing.TB, ev events.Event) (events.Event, []byte) {
	t.Helper()
	b, err := events.Marshal(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got.Position = ev.Position
	return got, b
}

func TestRoundTripIsExact(t *testing.T) {
	seen := map[events.Type]bool{}
	for _, ev := range samples() {
		seen[ev.Type()] = true
		t.Run(ev.Type().String(), func(t *testing.T) {
			ev, want := logged(t, ev)
			line, err := eventjson.Marshal(nil, ev)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("record is not one line: %q", line)
			}
			got, err := eventjson.Unmarshal(line)
			if err != nil {
				t.Fatalf("%v\n%s", err, line)
			}
			if got.Position != ev.Position || got.ID != ev.ID || !got.Time.Equal(ev.Time) {
				t.Fatalf("envelope differs: got %v, want %v", got, ev)
			}
			enc, err := events.Marshal(nil, got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, want) {
				t.Fatalf("re-encoded event differs from the original\n got %x\nwant %x\njson %s", enc, want, line)
			}
			again, err := eventjson.Marshal(nil, got)
			if err != nil || !bytes.Equal(again, line) {
				t.Fatalf("JSON is not stable: %v\n%s\n%s", err, line, again)
			}
		})
	}
	for ty := events.TypeTaskEnqueued; !strings.HasPrefix(ty.String(), "unknown"); ty++ {
		if !seen[ty] {
			t.Errorf("no sample for %s", ty)
		}
	}
}

func TestFormatIsReadable(t *testing.T) {
	ev, _ := logged(t, events.Event{
		Position: 7, ID: events.NewID(t0), Version: 1, TaskID: "t1", Time: t0,
		Payload: &events.TaskEnqueued{Spec: events.TaskSpec{Func: "add", Queue: "default", Args: []any{int64(10), 2.0, "<a&b>"},
			TTL: 90 * time.Second, RunAt: events.At(t0)}},
	})
	line, err := eventjson.Marshal(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"position":7,"id":"` + ev.ID.String() + `","type":"task.enqueued","version":1,"task_id":"t1",` +
		`"time":"2026-11-27T04:00:00.123456789Z","payload":{"spec":{"func":"add","args":[10,2.0,"<a&b>"],` +
		`"queue":"default","ttl":"1m30s","run_at":"2026-11-27T04:00:00.123456789Z"}}}` + "\n"
	if string(line) != want {
		t.Fatalf("got  %s\nwant %s", line, want)
	}
}

// TestIntegersStayIntegers: a JSON number without a fraction comes back as
// int64 (not float64, as encoding/json would give), so rebuilt state matches.
func TestIntegersStayIntegers(t *testing.T) {
	line := `{"position":1,"id":"01JDV2Q0000000000000000000","type":"task.completed","version":1,"task_id":"t",` +
		`"time":"2026-11-27T04:00:00Z","payload":{"attempt":1,"result":{"n":9007199254740993,"f":1.5,"e":1e3,"l":[1,-2]}}}`
	ev, err := eventjson.Unmarshal([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": int64(9007199254740993), "f": 1.5, "e": 1000.0, "l": []any{int64(1), int64(-2)}}
	if got := ev.Payload.(*events.TaskCompleted).Result; !reflect.DeepEqual(got, want) {
		t.Fatalf("result = %#v, want %#v", got, want)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good := func() string {
		ev, _ := logged(t, samples()[1])
		b, _ := eventjson.Marshal(nil, ev)
		return strings.TrimSpace(string(b))
	}()
	cases := []struct {
		name, in string
		want     error
	}{
		{"empty", ``, eventjson.ErrSyntax},
		{"not json", `hello`, eventjson.ErrSyntax},
		{"array", `[1,2]`, eventjson.ErrSyntax},
		{"trailing", good + ` {}`, eventjson.ErrSyntax},
		{"unknown field", strings.Replace(good, `"position"`, `"extra":1,"position"`, 1), eventjson.ErrSyntax},
		{"unknown payload field", strings.Replace(good, `"attempt"`, `"extra":1,"attempt"`, 1), eventjson.ErrSyntax},
		{"missing id", strings.Replace(good, `"id"`, `"_id"`, 1), eventjson.ErrSyntax},
		{"bad id", strings.Replace(good, `"id":"0`, `"id":"!`, 1), eventjson.ErrSyntax},
		{"bad time", strings.Replace(good, `"time":"2`, `"time":"x`, 1), eventjson.ErrSyntax},
		{"negative position", strings.Replace(good, `"position":2`, `"position":-2`, 1), eventjson.ErrSyntax},
		{"string attempt", strings.Replace(good, `"attempt":1`, `"attempt":"1"`, 1), eventjson.ErrSyntax},
		{"null payload", good[:strings.Index(good, `"payload"`)] + `"payload":null}`, eventjson.ErrSyntax},
		{"unknown type", strings.Replace(good, `task.leased`, `task.teleported`, 1), events.ErrUnknownType},
		{"newer version", strings.Replace(good, `"version":1`, `"version":9`, 1), events.ErrNewerVersion},
		{"version zero", strings.Replace(good, `"version":1`, `"version":0`, 1), eventjson.ErrSyntax},
		{"huge integer", strings.Replace(good, `"attempt":1`, `"attempt":1e999`, 1), eventjson.ErrSyntax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := eventjson.Unmarshal([]byte(c.in)); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	values := []struct{ name, result string }{
		{"integer overflow", `9223372036854775808`},
		{"float overflow", `1e400`},
		{"bad base64", `{"$bytes":"!!"}`},
		{"bad time tag", `{"$time":"yesterday"}`},
		{"bad float tag", `{"$float":"many"}`},
		{"bad map tag", `{"$map":[1]}`},
		{"too deep", strings.Repeat("[", 40) + strings.Repeat("]", 40)},
	}
	for _, c := range values {
		t.Run(c.name, func(t *testing.T) {
			line := `{"position":1,"id":"01JDV2Q0000000000000000000","type":"task.completed","version":1,"task_id":"t",` +
				`"time":"2026-11-27T04:00:00Z","payload":{"attempt":1,"result":` + c.result + `}}`
			if _, err := eventjson.Unmarshal([]byte(line)); !errors.Is(err, eventjson.ErrSyntax) {
				t.Fatalf("err = %v, want ErrSyntax", err)
			}
		})
	}
}

func TestMarshalRefusesWhatItCannotWrite(t *testing.T) {
	ev := events.New("t", t0, &events.TaskCompleted{Attempt: 1, Result: map[string]any{"\xff": int64(1)}})
	if _, err := eventjson.Marshal(nil, ev); !errors.Is(err, eventjson.ErrUnrepresentable) {
		t.Fatalf("map key that is not UTF-8: err = %v, want ErrUnrepresentable", err)
	}
	ev = events.New("t", t0, &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Meta: map[string]string{"\xff": "v"}}})
	if _, err := eventjson.Marshal(nil, ev); !errors.Is(err, eventjson.ErrUnrepresentable) {
		t.Fatalf("meta key that is not UTF-8: err = %v, want ErrUnrepresentable", err)
	}
	ev = events.New("t", t0, &events.TaskCompleted{Attempt: 1, Result: make(chan int)})
	if _, err := eventjson.Marshal(nil, ev); !errors.Is(err, eventjson.ErrUnrepresentable) {
		t.Fatalf("channel: err = %v, want ErrUnrepresentable", err)
	}
}

func TestDecoderReadsLines(t *testing.T) {
	var in bytes.Buffer
	var want []events.Event
	for _, ev := range samples() {
		ev, _ = logged(t, ev)
		want = append(want, ev)
		b, err := eventjson.Marshal(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteString("\n") // blank lines are skipped
	}
	in.Truncate(in.Len() - 2) // the last record without its newline
	dec := eventjson.NewDecoder(&in)
	for i := range want {
		got, err := dec.Decode()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got.ID != want[i].ID || got.Type() != want[i].Type() {
			t.Fatalf("record %d: got %v, want %v", i, got, want[i])
		}
	}
	if _, err := dec.Decode(); err != io.EOF {
		t.Fatalf("after the last record: err = %v, want io.EOF", err)
	}
	dec = eventjson.NewDecoder(strings.NewReader("\n\nnot json\n"))
	if _, err := dec.Decode(); !errors.Is(err, eventjson.ErrSyntax) || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want ErrSyntax naming line 3", err)
	}
}

// TestMirrorsCoverEveryField fails when an events payload gains a field the
// JSON form does not carry (the export would silently drop it).
func TestMirrorsCoverEveryField(t *testing.T) {
	for _, ev := range samples() {
		line, err := eventjson.Marshal(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		payload := line[bytes.Index(line, []byte(`"payload":`)):]
		typ := reflect.TypeOf(ev.Payload).Elem()
		fields := 0
		for i := 0; i < typ.NumField(); i++ {
			if typ.Field(i).IsExported() {
				fields++
			}
		}
		// Every sample field is set, so every field must appear as a key.
		keys := countKeys(t, payload[len(`"payload":`):len(payload)-2])
		if typ == reflect.TypeOf(events.TaskEnqueued{}) || typ == reflect.TypeOf(events.ScheduleCreated{}) {
			specFields := reflect.TypeOf(events.TaskSpec{}).NumField()
			if keys["spec"]+keys["template"] != 1 || keys["@spec"] != specFields {
				t.Errorf("%s: JSON spec has %d keys, events.TaskSpec %d fields", ev.Type(), keys["@spec"], specFields)
			}
			delete(keys, "@spec")
		}
		if len(keys) != fields {
			t.Errorf("%s: JSON has %d keys %v, the payload %d fields", ev.Type(), len(keys), keys, fields)
		}
	}
}

// countKeys returns the top-level keys of a JSON object and, under "@spec",
// the number of keys of its "spec" or "template" object.
func countKeys(t *testing.T, obj []byte) map[string]int {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatalf("%v: %s", err, obj)
	}
	out := map[string]int{}
	for k, v := range m {
		out[k] = 1
		if k == "spec" || k == "template" {
			out["@spec"] = len(v.(map[string]any))
		}
	}
	return out
}

// TestMetaIsAnObjectOfStrings: a spec's Meta is written as a JSON object
// of strings, keys sorted, and read back as it was.
func TestMetaIsAnObjectOfStrings(t *testing.T) {
	ev, want := logged(t, events.Event{
		Position: 1, ID: events.NewID(t0), Version: 1, TaskID: "t1", Time: t0,
		Payload: &events.TaskEnqueued{Spec: events.TaskSpec{Func: "f", Queue: "default",
			Meta: map[string]string{"tracestate": "k=v", "traceparent": "00-01-02-01"}}},
	})
	line, err := eventjson.Marshal(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(line, []byte(`"spec":{"func":"f","queue":"default","meta":{"traceparent":"00-01-02-01","tracestate":"k=v"}}`)) {
		t.Fatalf("meta not written as an object of strings: %s", line)
	}
	got, err := eventjson.Unmarshal(line)
	if err != nil {
		t.Fatal(err)
	}
	if enc, _ := events.Marshal(nil, got); !bytes.Equal(enc, want) {
		t.Fatalf("meta does not read back exactly: %s", line)
	}
}
