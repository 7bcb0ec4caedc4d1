package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/omniq/omniq/queue"
)

// The fast encoders and decoder against encoding/json's reflection: the
// same bytes, values and errors for random inputs.

// gen makes random wire values. With bad, it sometimes makes values that
// have no JSON form (NaN, a year past 9999, a channel).
type gen struct {
	r   *rand.Rand
	bad bool
}

func newGen(seed uint64, bad bool) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), bad: bad}
}

func (g *gen) oneIn(n int) bool { return g.r.IntN(n) == 0 }

// str is a string of letters mixed with what JSON escapes: control
// characters, quotes, HTML characters, U+2028, multi-byte runes and
// invalid UTF-8.
func (g *gen) str() string {
	var b []byte
	for range g.r.IntN(10) {
		switch g.r.IntN(12) {
		case 0:
			b = append(b, byte(g.r.IntN(0x20)))
		case 1:
			b = append(b, `<>&"\/'`[g.r.IntN(7)])
		case 2:
			b = utf8.AppendRune(b, []rune{'\u2028', '\u2029', 'é', '世', '😀', '\ufffd', 0x7f, 0x80}[g.r.IntN(8)])
		case 3:
			b = append(b, []byte{0xff, 0xc3, 0xed, 0xa0, 0x80, 0xe2}[g.r.IntN(6)])
		default:
			b = append(b, byte('a'+g.r.IntN(26)))
		}
	}
	return string(b)
}

func (g *gen) time() time.Time {
	sec := g.r.Int64N(4_000_000_000)
	var nsec int64
	switch g.r.IntN(3) {
	case 0:
		nsec = g.r.Int64N(1e9)
	case 1:
		nsec = g.r.Int64N(1000) * 1e6
	}
	t := time.Unix(sec, nsec)
	switch g.r.IntN(9) {
	case 0, 1, 2:
		return time.Time{}
	case 3:
		off := (g.r.IntN(28*60) - 14*60) * 60
		if g.oneIn(4) {
			off += g.r.IntN(60) // seconds RFC 3339 cannot show
		}
		return t.In(time.FixedZone("Z"+fmt.Sprint(off), off))
	case 4:
		return t.Local()
	case 5:
		return time.Date(g.r.IntN(10000), time.Month(1+g.r.IntN(12)), 1+g.r.IntN(28), 0, 0, 0, 0, time.UTC)
	case 6:
		if g.bad && g.oneIn(3) {
			switch g.r.IntN(3) {
			case 0:
				return time.Date(10000+g.r.IntN(10), 1, 1, 0, 0, 0, 0, time.UTC)
			case 1:
				return time.Date(-1-g.r.IntN(10), 1, 1, 0, 0, 0, 0, time.UTC)
			default:
				return t.In(time.FixedZone("far", (24+g.r.IntN(3))*3600))
			}
		}
	}
	return t.UTC()
}

var floats = []float64{0, math.Copysign(0, -1), 1, -2, 2.5, 1e20, 1e21, 1.5e21, 1e-6, 1e-7, 9.999e-7, 123456789.125,
	math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, 1<<63 + 1e5, 0.1, 100}

func (g *gen) float() float64 {
	if g.oneIn(2) {
		return floats[g.r.IntN(len(floats))]
	}
	return g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(50)-25))
}

// value is a free-form value: mostly JSON's plain types, sometimes other
// Go types that go through json.Marshal.
func (g *gen) value(depth int) any {
	k := g.r.IntN(14)
	if depth > 3 {
		k %= 7
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.str()
	case 2:
		return g.r.Int64() >> g.r.IntN(64) * int64(1-2*g.r.IntN(2))
	case 3:
		return g.r.IntN(2000) - 1000
	case 4:
		return g.float()
	case 5:
		return float32(g.float())
	case 6:
		return g.oneIn(2)
	case 7, 8:
		if g.oneIn(8) {
			return []any(nil)
		}
		a := make([]any, g.r.IntN(4))
		for i := range a {
			a[i] = g.value(depth + 1)
		}
		return a
	case 9, 10:
		if g.oneIn(8) {
			return map[string]any(nil)
		}
		m := map[string]any{}
		for range g.r.IntN(4) {
			m[g.str()] = g.value(depth + 1)
		}
		return m
	case 11:
		others := []any{[]int{1, 2}, map[string]int{"b": 1, "a": 2, "<": 3}, []float64{1, 2.5}, json.Number("7"),
			struct{ A string }{g.str()}, uint8(3), []byte("xy\x00"), time.Unix(5, 6).UTC(), queue.State("running"),
			(*int)(nil), map[string]any{"f": []float64{3}}, json.RawMessage(` {"x" : [1, 2.0]} `)}
		return others[g.r.IntN(len(others))]
	case 12:
		if g.bad && g.oneIn(2) {
			bads := []any{math.NaN(), math.Inf(1), float32(math.Inf(-1)), make(chan int), json.Number("x"), []any{math.NaN()},
				map[string]any{"a": math.Inf(-1)}, []float64{math.NaN()}}
			return bads[g.r.IntN(len(bads))]
		}
		return g.str()
	}
	return int64(g.r.IntN(10))
}

// size picks how a slice or map is made: nil (-1) one time in kinds,
// empty (0) one time in kinds, else with 1 to most elements.
func (g *gen) size(kinds, most int) int {
	switch g.r.IntN(kinds) {
	case 0:
		return -1
	case 1:
		return 0
	}
	return 1 + g.r.IntN(most)
}

// genSlice is a slice of elem's values, sized by g.size(kinds, most).
func genSlice[E any](g *gen, kinds, most int, elem func() E) []E {
	n := g.size(kinds, most)
	if n < 0 {
		return nil
	}
	s := make([]E, n)
	for i := range s {
		s[i] = elem()
	}
	return s
}

func (g *gen) args() []any {
	return genSlice(g, 5, 4, func() any { return g.value(1) })
}

func (g *gen) kwargs() map[string]any {
	n := g.size(5, 4)
	if n < 0 {
		return nil
	}
	m := map[string]any{}
	for range n {
		m[g.str()] = g.value(1)
	}
	return m
}

func (g *gen) strs() []string {
	return genSlice(g, 4, 3, g.str)
}

func (g *gen) duration() time.Duration {
	switch g.r.IntN(6) {
	case 0, 1:
		return 0
	case 2:
		return time.Duration(g.r.IntN(100_000)) * time.Second
	case 3:
		return time.Duration(g.r.Int64())
	case 4:
		return []time.Duration{math.MaxInt64, math.MinInt64, -time.Second, time.Nanosecond, 1500 * time.Millisecond}[g.r.IntN(5)]
	}
	return time.Duration(g.r.Int64N(1e12))
}

func (g *gen) int() int {
	switch g.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return int(g.r.Int64())
	}
	return g.r.IntN(2001) - 1000
}

// task is a random engine task.
func (g *gen) task() *queue.Task {
	t := &queue.Task{
		ID: g.str(), Func: g.str(), Args: g.args(), Kwargs: g.kwargs(), QueueName: g.str(), Priority: g.int(),
		TTL: g.duration(), Retries: g.int(), MaxRetries: g.int(), DependsOn: g.strs(),
		State: queue.State(g.str()), Attempt: g.int(), Error: g.str(),
		CreatedAt: g.time(), UpdatedAt: g.time(), FinishedAt: g.time(), LeaseDeadline: g.time(), ReadyAt: g.time(),
		ScheduleID: g.str(), NextRunAt: g.time(), Fires: g.int(), CancelledBy: g.str(),
	}
	if !g.oneIn(3) {
		t.Result = g.value(0)
	}
	if g.oneIn(2) {
		t.Schedule = &queue.Schedule{RunAt: g.time(), Interval: g.duration(), Paused: g.oneIn(2)}
		if g.oneIn(2) {
			t.Schedule.Cron = g.str()
		}
	}
	switch g.r.IntN(3) {
	case 0:
		t.Meta = map[string]string{}
	case 1:
		t.Meta = map[string]string{}
		for range 1 + g.r.IntN(4) {
			t.Meta[g.str()] = g.str()
		}
	}
	return t
}

// wireTask is a random wire task; its schedule's run_at is not always in
// UTC, as TaskOf makes it.
func (g *gen) wireTask() Task {
	wt := TaskOf(g.task())
	if wt.Schedule != nil && g.oneIn(2) {
		wt.Schedule.RunAt = g.time()
	}
	return wt
}

func (g *gen) outcomesRequest() OutcomesRequest {
	var r OutcomesRequest
	if !g.oneIn(6) {
		r.Outcomes = []OutcomeSpec{}
		for range g.r.IntN(4) {
			o := OutcomeSpec{ID: g.str(), Attempt: g.int()}
			switch g.r.IntN(3) {
			case 0:
				o.Result = g.value(0)
			case 1:
				e := g.str()
				o.Error = &e
			}
			r.Outcomes = append(r.Outcomes, o)
		}
	}
	if g.oneIn(2) {
		r.Lease = &LeaseSpec{Queues: g.strs(), N: g.int(), Wait: Duration(g.duration())}
	}
	return r
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}

// TestEncodeMatchesReflection: the appenders write the bytes, and give the
// errors, of encoding/json's reflection for random values.
func TestEncodeMatchesReflection(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 500
	}
	var failed, ok int
	for seed := range uint64(n) {
		g := newGen(seed, seed%4 == 0)
		et := g.task()
		want, wantErr := marshalTaskReflect(TaskOf(et))
		got, err := AppendTask([]byte("prefix"), et)
		if !sameError(err, wantErr) || err == nil && string(got) != "prefix"+string(want) {
			t.Fatalf("seed %d: AppendTask:\n got %s, %v\nwant prefix%s, %v", seed, got, err, want, wantErr)
		}
		if err != nil {
			failed++
		} else {
			ok++
		}

		wt := g.wireTask()
		want, wantErr = marshalTaskReflect(wt)
		got, err = wt.MarshalJSON()
		if !sameError(err, wantErr) || string(got) != string(want) {
			t.Fatalf("seed %d: Task.MarshalJSON:\n got %s, %v\nwant %s, %v", seed, got, err, want, wantErr)
		}
		want, wantErr = marshalSpecReflect(wt.TaskSpec)
		got, err = wt.TaskSpec.MarshalJSON()
		if !sameError(err, wantErr) || string(got) != string(want) {
			t.Fatalf("seed %d: TaskSpec.MarshalJSON:\n got %s, %v\nwant %s, %v", seed, got, err, want, wantErr)
		}

		// Request bodies, as the client's json.Encoder wrote them.
		batch := Batch{}
		if !g.oneIn(8) {
			batch.Tasks = []TaskSpec{}
			for range g.r.IntN(3) {
				batch.Tasks = append(batch.Tasks, g.wireTask().TaskSpec)
			}
		}
		req := g.outcomesRequest()
		for _, body := range []any{batch, &batch, wt.TaskSpec, &wt.TaskSpec, req, &req, (*Batch)(nil),
			CompleteRequest{Attempt: 1, Result: g.value(0)}} {
			var gotBuf, wantBuf bytes.Buffer
			gotBuf.WriteString("prefix")
			wantBuf.WriteString("prefix")
			err, wantErr := EncodeBody(&gotBuf, body), encodeBodyReflect(&wantBuf, body)
			if !sameError(err, wantErr) || gotBuf.String() != wantBuf.String() {
				t.Fatalf("seed %d: EncodeBody(%T):\n got %s, %v\nwant %s, %v", seed, body, gotBuf.Bytes(), err, wantBuf.Bytes(), wantErr)
			}
		}

		var outs []OutcomeAnswer
		if !g.oneIn(8) {
			outs = []OutcomeAnswer{}
			for range g.r.IntN(4) {
				var o OutcomeAnswer
				if g.oneIn(2) {
					o.State = g.str()
				}
				if g.oneIn(2) {
					o.Error = &ErrorDetail{Code: g.str(), Message: g.str()}
					if g.oneIn(2) {
						o.Error.Reason = g.str()
					}
				}
				outs = append(outs, o)
			}
		}
		want, _ = json.Marshal(outs)
		if got := AppendOutcomeAnswers(nil, outs); string(got) != string(want) {
			t.Fatalf("seed %d: AppendOutcomeAnswers:\n got %s\nwant %s", seed, got, want)
		}
	}
	// Both kinds of case were met.
	if failed == 0 || ok < n/2 {
		t.Errorf("%d tasks encoded, %d refused: the generator does not cover both", ok, failed)
	}
}

// decodeTargets are the types decode has a fast path for, and one it
// does not.
var decodeTargets = []func() any{
	func() any { return new(TaskSpec) }, func() any { return new(Task) }, func() any { return new(Batch) },
	func() any { return new(TaskList) }, func() any { return new(OutcomesRequest) }, func() any { return new(OutcomesAnswer) },
	func() any { return new(CompleteRequest) },
}

// checkDecode fails unless decode (the fast path with its fallback) and
// decodeReflect agree on body for every target, strict or not, also when
// the body is cut by http.MaxBytesReader.
func checkDecode(t *testing.T, body []byte) {
	t.Helper()
	readers := []func() io.Reader{func() io.Reader { return bytes.NewReader(body) }}
	if len(body) > 1 {
		readers = append(readers, func() io.Reader {
			return http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(body)), int64(len(body)/2))
		})
	}
	for _, strict := range []bool{true, false} {
		for _, mk := range decodeTargets {
			for _, rd := range readers {
				got, want := mk(), mk()
				err, wantErr := decode(rd(), got, strict), decodeReflect(rd(), want, strict)
				if !sameError(err, wantErr) {
					t.Fatalf("decode %q into %T (strict %v):\n got error %v\nwant error %v", body, got, strict, err, wantErr)
				}
				if err != nil && fastTarget(mk()) {
					// encoding/json leaves its target partly filled; decode
					// leaves a task form empty.
					if !reflect.DeepEqual(got, mk()) {
						t.Fatalf("decode %q into %T (strict %v) failed (%v) and left %#v", body, got, strict, err, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("decode %q into %T (strict %v):\n got %#v\nwant %#v", body, got, strict, got, want)
				}
			}
		}
	}
}

// decodeSeeds are bodies near the edges of what the fast parser takes.
var decodeSeeds = []string{
	`{"func":"f","args":[1,2.0,-3,1e2,12345678901234567890,-9223372036854775808,9223372036854775808,"x",{"n":7}],"kwargs":{"a":[1.5]}}`,
	`{"id":"a","func":"f","queue_name":"q","priority":5,"ttl":90,"retries":2,"max_retries":3,"depends_on":["x","y"],"meta":{"k":"v","k":"w"}}`,
	`{"func":"f","ttl":"90s","schedule":{"cron":"* * * * *","interval":2,"paused":true}}`,
	`{"func":"f","schedule":{"run_at":"2030-01-02T03:04:05.123+05:30","interval":"1m"}}`,
	`{"func":"f","schedule":{"run_at":"2030-01-02T03:04:05Z","run_at":"2031-01-02T03:04:05Z"}}`,
	`{"func":"f","schedule":{}}`, `{"func":"f","schedule":null,"args":null,"kwargs":null,"ttl":null,"priority":null}`,
	`{"Func":"f"}`, `{"func":"f","FUNC":"g"}`, `{"func":"f","func":"g"}`, `{"fun\u0063":"f"}`, `{"func":"f","unknown":1}`,
	`{"func":"f","kwargs":{"a":1},"kwargs":{"b":2}}`, `{"func":"f","schedule":{"cron":"x"},"schedule":{"paused":true}}`,
	`{"func":"f","args":[]}`, `{"func":"f","args":{}}`, `{"func":"f","kwargs":{}}`, `{"func":"f","kwargs":{"a":1,"a":{"b":2}}}`,
	`{"func":"\u003c\u0026\u003e \ud83d\ude00 \ud83d \udc00 \u2028 \/ \b\f\n\r\t \" \\"}`, `{"func":"\x"}`, `{"func":"\'"}`,
	"{\"func\":\"a\xffb\"}", "{\"func\":\"tab\there\"}", `{"func":"f"} `, `{"func":"f"} {}`, `{"func":"f"}x`, `{"func":"f",}`,
	`{"func":"f","priority":1.0}`, `{"func":"f","priority":1e2}`, `{"func":"f","priority":-0}`, `{"func":"f","priority":01}`,
	`{"func":"f","priority":99999999999999999999}`, `{"func":"f","priority":"1"}`, `{"func":"f","args":[1e400]}`,
	`{"func":"f","args":[-0,-0.0,0.1e-400,1E+2,1.]}`, `{"func":"f","args":[tru]}`, `{"func":"f","args":[nul]}`,
	`{"func":"f","depends_on":[null]}`, `{"func":"f","meta":{"a":null}}`, `{"func":"f","meta":{"a":1}}`,
	`{"func":"f","ttl":"ninety"}`, `{"func":"f","ttl":1e300}`, `{"func":"f","ttl":[]}`, `{"func":"f","ttl":true}`,
	`{"tasks":[{"func":"f"},{"func":"g","args":[1.5]}]}`, `{"tasks":[]}`, `{"tasks":null}`, `{"tasks":[null]}`, `{}`, `null`,
	`{"tasks":[{"func":"f"}],"tasks":[]}`, `{"tasks":[{"func":"f","state":"running"}]}`, `{"Tasks":[]}`, `{"tasks":{}}`,
	`{"id":"t","func":"f","queue_name":"default","priority":0,"retries":0,"state":"running","attempt":1,"result":{"a":[1,2.5,null,true]},` +
		`"error":"boom","created_at":"2030-01-02T03:04:05.000000001Z","updated_at":"2030-01-02T03:04:05+01:00","finished_at":"2030-01-02T03:04:05Z",` +
		`"lease_deadline":"2030-01-02T03:04:05Z","ready_at":"2030-01-02T03:04:05Z","schedule_id":"s","next_run_at":"2030-01-02T03:04:05Z","fires":3,"cancelled_by":"x"}`,
	`{"func":"f","state":"running","created_at":"2030-13-02T03:04:05Z"}`, `{"func":"f","state":"x","created_at":""}`,
	`{"outcomes":[{"id":"a","attempt":1,"result":2.5},{"id":"b","attempt":2,"error":""},{"id":"c","attempt":3,"error":null}],"lease":{"queues":["q"],"n":4,"wait":"1s"}}`,
	`{"outcomes":[],"lease":{"n":1,"wait":0.5}}`, `{"outcomes":null}`, `{"outcomes":[{"id":"a","attempt":1,"result":1e999}]}`,
	`{"outcomes":[{"state":"completed"},{"error":{"code":"stale_lease","reason":"","message":"m"}}],"tasks":[{"id":"t","func":"f","state":"running","attempt":2}]}`,
	`{"outcomes":[{}],"tasks":[]}`, `{"outcomes":[{"error":null}],"tasks":null}`, `{"outcomes":[{"error":{"Code":"x"}}]}`,
	`{"attempt":1,"result":[1,2]}`, ``, `   `, `[1]`, `{`, `{"func":`, `{"func":"f"`, `"str"`, "\ufeff{}",
	// Members a newer daemon might add: passed over in an answer, refused
	// in a request; not passed over where encoding/json would match them.
	`{"func":"f","future":{"a":[1,{"b":null}],"c":"\u00e9"},"n":-1.5e3}`, `{"func":"f","future":1e400}`, `{"func":"f","future":"\ud83d"}`,
	`{"func":"f","unknown":1,"unknown":2}`, `{"func":"f","QUEUE_NAME":"q"}`, `{"func":"f","queue_Name":"q","x":[]}`,
	`{"id":"t","func":"f","state":"running","ſtate":"x"}`, `{"func":"f","\u212Aey":1}`, "{\"func\":\"f\",\"\u212aey\":1}",
	`{"func":"f","schedule":{"cron":"* * * * *","jitter":"5s"}}`, `{"func":"f","future":[tru]}`, `{"func":"f","future":}`,
	`{"tasks":[{"func":"f","new":[true,false,null]}],"more":{}}`, `{"outcomes":[{"state":"completed","new":1}],"tasks":[],"new":"x"}`,
	`{"outcomes":[{"error":{"code":"c","message":"m","details":{"k":1}}}]}`,
}

func FuzzDecodeTaskForms(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	for seed := range uint64(40) {
		g := newGen(seed, false)
		b, _ := json.Marshal(TaskList{Tasks: []Task{g.wireTask(), g.wireTask()}})
		f.Add(b)
		b, _ = json.Marshal(g.outcomesRequest())
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, body)
	})
}

// TestDecodeMatchesReflection: what the encoder writes, cut and altered at
// random, decodes as encoding/json decodes it.
func TestDecodeMatchesReflection(t *testing.T) {
	n := 1500
	if testing.Short() {
		n = 200
	}
	for seed := range uint64(n) {
		g := newGen(seed, false)
		var body []byte
		switch seed % 4 {
		case 0:
			body, _ = json.Marshal(g.wireTask())
		case 1:
			body, _ = json.Marshal(TaskList{Tasks: []Task{g.wireTask(), g.wireTask()}})
		case 2:
			body, _ = json.Marshal(Batch{Tasks: []TaskSpec{g.wireTask().TaskSpec}})
		case 3:
			body, _ = json.Marshal(g.outcomesRequest())
		}
		if body == nil {
			continue
		}
		checkDecode(t, body)
		for range 3 {
			mutated := append([]byte(nil), body...)
			switch i := g.r.IntN(len(mutated)); g.r.IntN(4) {
			case 0:
				mutated = mutated[:i]
			case 1:
				mutated[i] = `{}[]",:0-.e\ nul`[g.r.IntN(16)]
			case 2:
				mutated = append(mutated[:i], append([]byte(` `), mutated[i:]...)...)
			case 3:
				mutated = bytes.ToUpper(mutated)
			}
			checkDecode(t, mutated)
		}
	}
}

// TestFastPathTakesWhatTheEncoderWrites: the fast parser does not give up
// on the encoder's own output (the forms the daemon and the client send),
// and those bodies decode to the values sent, floats and integers kept.
func TestFastPathTakesWhatTheEncoderWrites(t *testing.T) {
	decoded := 0
	defer func() {
		if decoded < 1000 {
			t.Errorf("only %d bodies decoded", decoded)
		}
	}()
	for seed := range uint64(500) {
		g := newGen(seed, false)
		list := TaskList{Tasks: []Task{g.wireTask(), g.wireTask()}}
		req := g.outcomesRequest()
		batch := Batch{Tasks: []TaskSpec{g.wireTask().TaskSpec}}
		for _, tc := range []struct {
			v      any
			target func() any
		}{
			{list, func() any { return new(TaskList) }},
			{list.Tasks[0], func() any { return new(Task) }},
			{batch, func() any { return new(Batch) }},
			{batch.Tasks[0], func() any { return new(TaskSpec) }},
			{req, func() any { return new(OutcomesRequest) }},
			{OutcomesAnswer{Outcomes: []OutcomeAnswer{{State: "completed"}, {Error: &ErrorDetail{Code: "c", Message: "<m>"}}}, Tasks: list.Tasks},
				func() any { return new(OutcomesAnswer) }},
		} {
			var buf bytes.Buffer
			if err := EncodeBody(&buf, tc.v); err != nil {
				continue // float32(1e300) is +Inf
			}
			slow := tc.target()
			if err := decodeReflect(bytes.NewReader(buf.Bytes()), slow, true); err != nil {
				continue // not every value decodes back (a ttl past time.Duration's range)
			}
			decoded++
			fast := tc.target()
			if !decodeFast(buf.Bytes(), fast, true) {
				t.Fatalf("seed %d: the fast path gives up on %s", seed, buf.Bytes())
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("seed %d: %s\nfast %#v\nslow %#v", seed, buf.Bytes(), fast, slow)
			}
		}
	}
}

// TestAnswersFromANewerDaemon: an answer with members this client does not
// know (a newer daemon's) stays on the fast path and decodes as encoding/json
// decodes it; a request with them is refused as encoding/json refuses it.
func TestAnswersFromANewerDaemon(t *testing.T) {
	added := map[string]any{"n": json.Number("1"), "list": []any{json.Number("1.5"), "x", nil, map[string]any{}}}
	// addTo adds a member to an answer's object, its tasks, their
	// schedules and its outcomes (not to free-form values: args, result).
	var addTo func(v any)
	addTo = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			x["added_later"] = added
			for _, k := range []string{"tasks", "schedule", "outcomes"} {
				addTo(x[k])
			}
		case []any:
			for _, e := range x {
				addTo(e)
			}
		}
	}
	for seed := range uint64(200) {
		g := newGen(seed, false)
		list := TaskList{Tasks: []Task{g.wireTask(), g.wireTask()}}
		for _, tc := range []struct {
			v      any
			target func() any
		}{
			{list, func() any { return new(TaskList) }},
			{list.Tasks[0], func() any { return new(Task) }},
			{OutcomesAnswer{Outcomes: []OutcomeAnswer{{State: "completed"}}, Tasks: list.Tasks}, func() any { return new(OutcomesAnswer) }},
		} {
			var buf bytes.Buffer
			if err := EncodeBody(&buf, tc.v); err != nil {
				continue
			}
			dec := json.NewDecoder(&buf)
			dec.UseNumber()
			var generic any
			if err := dec.Decode(&generic); err != nil {
				t.Fatal(err)
			}
			addTo(generic)
			body, err := json.Marshal(generic)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(body, []byte("added_later")) {
				t.Fatalf("nothing added to %s", body)
			}
			slow := tc.target()
			if err := decodeReflect(bytes.NewReader(body), slow, false); err != nil {
				continue // not every value decodes back (a ttl past time.Duration's range)
			}
			fast := tc.target()
			if !decodeFast(body, fast, false) {
				t.Fatalf("seed %d: the fast path gives up on an answer with new members: %s", seed, body)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("seed %d: %s\nfast %#v\nslow %#v", seed, body, fast, slow)
			}
			checkDecode(t, body)
		}
	}
}

// A task decoded from what it encodes to is the task sent: numbers keep
// their kind, strings and times their values.
func TestTaskRoundTrip(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	et := &queue.Task{
		ID: "t<1>", Func: "f&g", Args: []any{int64(1), 2.0, -0.5, "x\u2028y", nil, true, []any{}, map[string]any{}, 1e21, 1e-7},
		Kwargs:    map[string]any{"k": []any{int64(-7), map[string]any{"z": 3.25}}, "\"": "\x01"},
		QueueName: "q", Priority: -5, TTL: 1500 * time.Millisecond, Retries: 2, MaxRetries: 3, DependsOn: []string{"a", "b"},
		Schedule: &queue.Schedule{RunAt: at, Cron: "CRON_TZ=Europe/Paris 0 * * * *", Interval: time.Hour, Paused: true},
		Meta:     map[string]string{"traceparent": "00-abc-01", "<": ">"},
		State:    queue.StateCompleted, Attempt: 2, Result: map[string]any{"sum": 30.0, "n": int64(3)}, Error: "boom",
		CreatedAt: at, UpdatedAt: at.Add(time.Second), FinishedAt: at.Add(2 * time.Second), LeaseDeadline: at.Add(time.Minute),
		ReadyAt: at.Add(time.Hour), ScheduleID: "s", NextRunAt: at.Add(24 * time.Hour), Fires: 4, CancelledBy: "d",
	}
	b, err := AppendTask(nil, et)
	if err != nil {
		t.Fatal(err)
	}
	var wt Task
	if err := DecodeAnswer(bytes.NewReader(b), &wt); err != nil {
		t.Fatal(err)
	}
	if got := wt.Engine(); !reflect.DeepEqual(got, et) {
		t.Errorf("round trip:\n got %#v\nwant %#v\njson %s", got, et, b)
	}

	spec := SpecOf(et)
	var buf bytes.Buffer
	if err := EncodeBody(&buf, Batch{Tasks: []TaskSpec{spec, spec}}); err != nil {
		t.Fatal(err)
	}
	var batch Batch
	if err := DecodeStrict(&buf, &batch); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(batch.Tasks, []TaskSpec{spec, spec}) {
		t.Errorf("batch round trip:\n got %#v\nwant %#v", batch.Tasks, spec)
	}

	msg := ""
	req := OutcomesRequest{Outcomes: []OutcomeSpec{{ID: "a", Attempt: 1, Result: []any{1.0, int64(1)}}, {ID: "b", Attempt: 2, Error: &msg}},
		Lease: &LeaseSpec{Queues: []string{"q<1>"}, N: 8, Wait: Duration(time.Second)}}
	buf.Reset()
	if err := EncodeBody(&buf, &req); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"queues":["q<1>"]`) {
		t.Errorf("lease queues HTML-escaped, unlike json.Encoder with SetEscapeHTML(false): %s", buf.Bytes())
	}
	var back OutcomesRequest
	if err := DecodeStrict(&buf, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, req) {
		t.Errorf("outcomes round trip:\n got %#v\nwant %#v", back, req)
	}
}

// The fast path leaves a target that already holds a value to
// encoding/json, which merges into it.
func TestDecodeIntoFilledTarget(t *testing.T) {
	body := `{"func":"g","args":[1]}`
	got := Task{TaskSpec: TaskSpec{ID: "kept", Args: []any{"old", "older"}}}
	want := got
	want.Args = append([]any(nil), got.Args...)
	err, wantErr := DecodeAnswer(strings.NewReader(body), &got), decodeReflect(strings.NewReader(body), &want, false)
	if !sameError(err, wantErr) || !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, %v\nwant %#v, %v", got, err, want, wantErr)
	}
	if got.ID != "kept" {
		t.Errorf("id = %q, want the target's own", got.ID)
	}
}

// Each member table names, in order, the JSON members encoding/json
// writes for its struct: none missing or repeated (memberIndex would find
// only the first), none misspelt, in the encoders' order (which
// memberIndex looks at first), and at most 64 (readMembers' seen bits).
func TestMemberTables(t *testing.T) {
	checkMembers(t, specMembers, reflect.TypeFor[TaskSpec]())
	checkMembers(t, taskMembers, reflect.TypeFor[Task]())
	checkMembers(t, scheduleMembers, reflect.TypeFor[Schedule]())
	checkMembers(t, batchMembers, reflect.TypeFor[Batch]())
	checkMembers(t, taskListMembers, reflect.TypeFor[TaskList]())
	checkMembers(t, outcomesRequestMembers, reflect.TypeFor[OutcomesRequest]())
	checkMembers(t, outcomeSpecMembers, reflect.TypeFor[OutcomeSpec]())
	checkMembers(t, leaseMembers, reflect.TypeFor[LeaseSpec]())
	checkMembers(t, outcomesAnswerMembers, reflect.TypeFor[OutcomesAnswer]())
	checkMembers(t, outcomeAnswerMembers, reflect.TypeFor[OutcomeAnswer]())
	checkMembers(t, errorDetailMembers, reflect.TypeFor[ErrorDetail]())
}

func checkMembers[T any](t *testing.T, table []member[T], of reflect.Type) {
	t.Helper()
	var names []string
	for _, m := range table {
		names = append(names, m.name)
	}
	if want := jsonNames(of); !slices.Equal(names, want) || len(names) > 64 {
		t.Errorf("members of %v:\n got %q\nwant %q", of, names, want)
	}
}

// jsonNames are the member names encoding/json gives struct type st's
// fields, in field order, embedded structs' in place.
func jsonNames(st reflect.Type) []string {
	var names []string
	for f := range st.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			names = append(names, jsonNames(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

// A body cut short by http.MaxBytesReader is still ErrPayloadTooLarge,
// even where the fast path would have parsed the part that was read.
func TestDecodeTooLarge(t *testing.T) {
	body := `{"func":"f"}` + strings.Repeat(" ", 100)
	var s TaskSpec
	err := DecodeStrict(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(body)), 20), &s)
	if !errors.Is(err, queue.ErrPayloadTooLarge) {
		t.Errorf("err = %v, want ErrPayloadTooLarge", err)
	}
}

// --- benchmarks: the fast path against encoding/json's reflection ---

func benchTasks(n int) []*queue.Task {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	tasks := make([]*queue.Task, n)
	for i := range tasks {
		tasks[i] = &queue.Task{
			ID: fmt.Sprintf("01JB%022d", i), Func: "send_email", Args: []any{int64(i), "user@example.com", 2.5},
			Kwargs: map[string]any{"retry": true, "template": "welcome"}, QueueName: "default", Retries: 3,
			State: queue.StateRunning, Attempt: 1, CreatedAt: at, UpdatedAt: at, LeaseDeadline: at.Add(time.Minute),
		}
	}
	return tasks
}

func BenchmarkEncodeTask(b *testing.B) {
	et := benchTasks(1)[0]
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _ = AppendTask(buf[:0], et)
		}
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = marshalTaskReflect(TaskOf(et))
		}
	})
}

func BenchmarkEncodeBatch(b *testing.B) {
	batch := Batch{}
	for _, et := range benchTasks(100) {
		batch.Tasks = append(batch.Tasks, SpecOf(et))
	}
	var buf bytes.Buffer
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			_ = EncodeBody(&buf, batch)
		}
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			// The old TaskSpec.MarshalJSON, as encoding/json called it.
			plain := make([]json.RawMessage, len(batch.Tasks))
			for i := range batch.Tasks {
				plain[i], _ = marshalSpecReflect(batch.Tasks[i])
			}
			_ = enc.Encode(struct {
				Tasks []json.RawMessage `json:"tasks"`
			}{plain})
		}
	})
}

// benchDecode runs decode (fast) and decodeReflect (reflect) on body.
func benchDecode(b *testing.B, body []byte, strict bool, target func() any) {
	for _, path := range []struct {
		name   string
		decode func(io.Reader, any, bool) error
	}{{"fast", decode}, {"reflect", decodeReflect}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := path.decode(bytes.NewReader(body), target(), strict); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeTaskList(b *testing.B) {
	benchDecode(b, taskListBody(100, ""), false, func() any { return new(TaskList) })
}

// BenchmarkDecodeTaskListNewerDaemon: the same list with a member in each
// task that this client does not know.
func BenchmarkDecodeTaskListNewerDaemon(b *testing.B) {
	body := taskListBody(100, `,"added_later":{"n":1,"tags":["a","b"]}`)
	benchDecode(b, body, false, func() any { return new(TaskList) })
}

// taskListBody is a TaskList of n tasks as the daemon writes it, with
// extra written at the end of each task's object.
func taskListBody(n int, extra string) []byte {
	body := []byte(`{"tasks":[`)
	for i, et := range benchTasks(n) {
		if i > 0 {
			body = append(body, ',')
		}
		body, _ = AppendTask(body, et)
		body = append(append(body[:len(body)-1], extra...), '}')
	}
	return append(body, "]}"...)
}

func BenchmarkDecodeBatch(b *testing.B) {
	batch := Batch{}
	for _, et := range benchTasks(100) {
		batch.Tasks = append(batch.Tasks, SpecOf(et))
	}
	var buf bytes.Buffer
	_ = EncodeBody(&buf, batch)
	benchDecode(b, buf.Bytes(), true, func() any { return new(Batch) })
}

func BenchmarkDecodeOutcomesRequest(b *testing.B) {
	req := OutcomesRequest{Lease: &LeaseSpec{Queues: []string{"default"}, N: 64, Wait: Duration(time.Second)}}
	for i := range 64 {
		req.Outcomes = append(req.Outcomes, OutcomeSpec{ID: fmt.Sprintf("01JB%022d", i), Attempt: 1, Result: map[string]any{"ok": true, "n": int64(i)}})
	}
	var buf bytes.Buffer
	_ = EncodeBody(&buf, &req)
	benchDecode(b, buf.Bytes(), true, func() any { return new(OutcomesRequest) })
}
