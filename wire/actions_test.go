package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/omniq/omniq/queue"
)

// ErrTaskState travels as 409 task_state and comes back as itself.
func TestTaskStateError(t *testing.T) {
	status, body := ErrorFor(fmt.Errorf("retry %q: %w", "a", queue.ErrTaskState))
	if status != http.StatusConflict || body.Error.Code != CodeTaskState || !strings.Contains(body.Error.Message, `retry "a"`) {
		t.Fatalf("ErrorFor(ErrTaskState) = %d %+v", status, body)
	}
	back := &Error{Status: status, Code: body.Error.Code, Message: body.Error.Message}
	if !errors.Is(back, queue.ErrTaskState) || errors.Is(back, queue.ErrStaleLease) {
		t.Errorf("task_state unwraps to %v", back.Unwrap())
	}
	if StatusOf(CodeTaskState) != http.StatusConflict {
		t.Errorf("StatusOf(task_state) = %d", StatusOf(CodeTaskState))
	}
}

// paused_queues is always an array on the wire, and round-trips.
func TestStatsPausedQueues(t *testing.T) {
	for _, paused := range [][]string{nil, {"a", "b"}} {
		s := queue.Stats{Position: 3, Queues: map[string]map[queue.State]int{"a": {queue.StatePending: 2}}, PausedQueues: paused}
		b, err := json.Marshal(StatsOf(s))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"paused_queues":[`) {
			t.Errorf("stats %s: paused_queues is not an array", b)
		}
		var got Stats
		if err := DecodeAnswer(strings.NewReader(string(b)), &got); err != nil {
			t.Fatal(err)
		}
		if back := got.Engine(); !reflect.DeepEqual(back, s) {
			t.Errorf("round trip of %+v gave %+v", s, back)
		}
	}
}

func TestQueueStateOf(t *testing.T) {
	s := queue.Stats{
		Queues:       map[string]map[queue.State]int{"a": {queue.StatePending: 2, queue.StateCompleted: 1}, "b": {queue.StatePending: 5}},
		PausedQueues: []string{"a"},
	}
	for name, want := range map[string]QueueState{
		"a":     {Name: "a", Paused: true, Counts: map[string]int{"pending": 2, "completed": 1}},
		"b":     {Name: "b", Paused: false, Counts: map[string]int{"pending": 5}},
		"empty": {Name: "empty", Paused: false, Counts: map[string]int{}},
	} {
		if got := QueueStateOf(s, name); !reflect.DeepEqual(got, want) {
			t.Errorf("QueueStateOf(%s) = %+v, want %+v", name, got, want)
		}
	}
}
