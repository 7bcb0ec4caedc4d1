package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
)

// TestEventView: the history view of an event: its envelope, its payload in
// snake_case with durations as seconds and times as times, and no payload
// for an event without fields.
func TestEventView(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := events.New("t1", at, &events.TaskEnqueued{Spec: events.TaskSpec{
		Func: "f", Args: []any{int64(1), 2.5}, Queue: "default", TTL: 90 * time.Second, MaxRetries: 3, RunAt: events.At(at),
	}})
	ev.Position = 7
	got := EventView(ev)
	if got.Type != "task.enqueued" || got.Position != 7 || got.TaskID != "t1" || !got.Time.Equal(at) || got.ID != ev.ID.String() {
		t.Errorf("envelope: %+v", got)
	}
	spec, _ := got.Payload["spec"].(map[string]any)
	want := map[string]any{"func": "f", "args": []any{int64(1), 2.5}, "queue": "default", "ttl": 90.0, "max_retries": 3, "run_at": at}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("payload spec = %#v, want %#v", spec, want)
	}
	cancelled := EventView(events.New("t1", at, &events.TaskCancelled{Reason: events.CancelDependencyFailed, Dependency: "a"}))
	if cancelled.Payload["reason"] != "dependency_failed" || cancelled.Payload["dependency"] != "a" {
		t.Errorf("cancelled payload = %#v", cancelled.Payload)
	}
	if p := EventView(events.New("t1", at, &events.TaskDeleted{})).Payload; p != nil {
		t.Errorf("empty payload = %#v, want nil", p)
	}
}

// TestSnakeCase: Go field names in the API's spelling.
func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Attempt": "attempt", "MaxRetries": "max_retries", "TTL": "ttl", "ScheduleID": "schedule_id",
		"DependsOn": "depends_on", "RunAt": "run_at", "NextFire": "next_fire", "ID": "id",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}
