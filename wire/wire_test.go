package wire

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/queue"
)

func TestDurationUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: `90`, want: 90 * time.Second},
		{in: `1.5`, want: 1500 * time.Millisecond},
		{in: `0`, want: 0},
		{in: `null`, want: 0},
		{in: `"90s"`, want: 90 * time.Second},
		{in: `"1h30m"`, want: 90 * time.Minute},
		{in: `"90"`, want: 90 * time.Second},
		{in: `-5`, want: -5 * time.Second}, // the engine refuses it, with its own message
		{in: `"ninety"`, bad: true},
		{in: `""`, bad: true},
		{in: `true`, bad: true},
		{in: `[]`, bad: true},
		{in: `1e300`, bad: true},
		{in: `"1e300"`, bad: true},
	} {
		var d Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if tc.bad {
			if !errors.Is(err, queue.ErrInvalidArgument) {
				t.Errorf("%s: err = %v, want ErrInvalidArgument", tc.in, err)
			}
			continue
		}
		if err != nil || time.Duration(d) != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.in, time.Duration(d), err, tc.want)
		}
	}
}

func TestDurationMarshalsSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		90 * time.Second:        "90",
		1500 * time.Millisecond: "1.5",
		time.Nanosecond:         "0.000000001",
		0:                       "0",
	} {
		b, err := json.Marshal(Duration(d))
		if err != nil || string(b) != want {
			t.Errorf("%v: got %s, %v; want %s", d, b, err, want)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	var s TaskSpec
	err := DecodeStrict(strings.NewReader(`{"func":"f","args":[1,2.0,-3,1e2,12345678901234567890,"x",{"n":7}],
		"kwargs":{"a":[1.5]},"ttl":"1m","schedule":{"run_at":"2030-01-02T03:04:05Z","interval":60}}`), &s)
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []any{int64(1), 2.0, int64(-3), 100.0, 12345678901234567890.0, "x", map[string]any{"n": int64(7)}}
	if !reflect.DeepEqual(s.Args, wantArgs) {
		t.Errorf("args = %#v, want %#v", s.Args, wantArgs)
	}
	if !reflect.DeepEqual(s.Kwargs, map[string]any{"a": []any{1.5}}) {
		t.Errorf("kwargs = %#v", s.Kwargs)
	}
	if time.Duration(s.TTL) != time.Minute || time.Duration(s.Schedule.Interval) != time.Minute ||
		!s.Schedule.RunAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("spec = %+v, schedule %+v", s, s.Schedule)
	}

	for _, bad := range []string{
		``, `   `, `{"func":"f"} {}`, `{"func":"f"}x`, `{"func":"f","state":"running"}`, `{"func":1}`,
		`{"func":"f","args":{}}`, `{"func":"f","schedule":{"run_at":"tomorrow"}}`, `[1]`, `{"func":"f",}`,
		`{"func":"f","args":[1e400]}`,
	} {
		var s TaskSpec
		if err := DecodeStrict(strings.NewReader(bad), &s); !errors.Is(err, queue.ErrInvalidArgument) {
			t.Errorf("%q: err = %v, want ErrInvalidArgument", bad, err)
		}
	}
	tooBig := http.MaxBytesReader(nil, readCloser{strings.NewReader(`{"func":"` + strings.Repeat("x", 100) + `"}`)}, 50)
	if err := DecodeStrict(tooBig, &s); !errors.Is(err, queue.ErrPayloadTooLarge) {
		t.Errorf("oversized body: err = %v, want ErrPayloadTooLarge", err)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// A float stays a float and an integer an integer across the wire, as they
// do across the embedded engine's log.
func TestNumbersKeepTheirKind(t *testing.T) {
	in := Task{
		TaskSpec: TaskSpec{Func: "f", Args: []any{int64(2), 2.0, 0.5, []any{3.0}}, Kwargs: map[string]any{"x": 1e21, "y": int64(-1)}},
		TaskInfo: TaskInfo{State: "completed", Result: map[string]any{"sum": 30.0}},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"args":[2,2.0,0.5,[3.0]]`) || !strings.Contains(string(b), `"result":{"sum":30.0}`) {
		t.Errorf("encoded as %s", b)
	}
	var out Task
	if err := DecodeAnswer(strings.NewReader(string(b)), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Args, in.Args) || !reflect.DeepEqual(out.Kwargs, in.Kwargs) || !reflect.DeepEqual(out.Result, in.Result) {
		t.Errorf("round trip: got %#v %#v %#v", out.Args, out.Kwargs, out.Result)
	}
	if out.State != "completed" || out.Func != "f" {
		t.Errorf("round trip lost fields: %+v", out)
	}
}

func TestTaskConversionsRoundTrip(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	et := &queue.Task{
		ID: "t1", Func: "f", Args: []any{int64(1)}, Kwargs: map[string]any{"k": "v"}, QueueName: "q", Priority: 5,
		TTL: time.Hour, Retries: 2, MaxRetries: 3, DependsOn: []string{"a"},
		Schedule: &queue.Schedule{RunAt: at, Paused: true},
		State:    queue.StateRunning, Attempt: 2, Error: "boom", CreatedAt: at, UpdatedAt: at, LeaseDeadline: at.Add(time.Minute),
		ScheduleID: "s", Fires: 0, CancelledBy: "",
	}
	b, err := json.Marshal(TaskOf(et))
	if err != nil {
		t.Fatal(err)
	}
	var wt Task
	if err := DecodeAnswer(strings.NewReader(string(b)), &wt); err != nil {
		t.Fatal(err)
	}
	if got := wt.Engine(); !reflect.DeepEqual(got, et) {
		t.Errorf("round trip:\n got %+v\nwant %+v\njson %s", got, et, b)
	}
}

func TestErrorTable(t *testing.T) {
	for _, k := range errorTable {
		if k.code == CodeMethodNotAllowed || k.code == CodeInternal {
			continue
		}
		status, body := ErrorFor(errors.Join(errors.New("context"), k.sentinel))
		if status != k.status || body.Error.Code != k.code || body.Error.Reason != k.reason {
			t.Errorf("ErrorFor(%v) = %d %+v, want %d %s/%s", k.sentinel, status, body.Error, k.status, k.code, k.reason)
		}
		back := &Error{Status: status, Code: body.Error.Code, Reason: body.Error.Reason, Message: body.Error.Message}
		if !errors.Is(back, k.sentinel) {
			t.Errorf("%s/%s does not unwrap to %v", k.code, k.reason, k.sentinel)
		}
	}
	status, body := ErrorFor(errors.New("disk on fire at postgres://u:secret@h/db"))
	if status != 500 || body.Error.Code != CodeInternal || strings.Contains(body.Error.Message, "secret") {
		t.Errorf("unknown error: %d %+v", status, body)
	}
	// A reason this client does not know still matches its code's sentinel.
	e := &Error{Status: 400, Code: CodeInvalidArgument, Reason: "invalid_something_new"}
	if !errors.Is(e, queue.ErrInvalidArgument) {
		t.Error("unknown reason does not fall back to ErrInvalidArgument")
	}
	// Every specific invalid-argument sentinel also matches the general one.
	if !errors.Is(&Error{Code: CodeInvalidArgument, Reason: "invalid_cron"}, queue.ErrInvalidArgument) {
		t.Error("invalid_cron is not an ErrInvalidArgument")
	}
	if !errors.Is(&Error{Status: 502, Message: "bad gateway"}, ErrServer) {
		t.Error("a proxy's 502 is not ErrServer")
	}
	if got := StatusOf(CodeStaleLease); got != http.StatusConflict {
		t.Errorf("StatusOf(stale_lease) = %d", got)
	}
}

// FuzzDecodeTask: decoding any body either fails with ErrInvalidArgument or
// gives a spec that encodes and decodes back to itself.
func FuzzDecodeTask(f *testing.F) {
	for _, s := range []string{
		`{"func":"f","args":[1,2.0,"x",null,true,{"a":[]}],"kwargs":{"k":1.5}}`,
		`{"tasks":[{"func":"f"}]}`, `{"func":"f","ttl":"90s","schedule":{"cron":"* * * * *","interval":2}}`,
		`{"func":"f","schedule":{"run_at":"2030-01-02T03:04:05Z"}}`, `[]`, `{`, `{"func":"f"}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var s TaskSpec
		if err := DecodeStrict(strings.NewReader(string(body)), &s); err != nil {
			if !errors.Is(err, queue.ErrInvalidArgument) {
				t.Fatalf("error %v does not wrap ErrInvalidArgument", err)
			}
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("decoded spec does not encode: %v", err)
		}
		var again TaskSpec
		if err := DecodeStrict(strings.NewReader(string(b)), &again); err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}
