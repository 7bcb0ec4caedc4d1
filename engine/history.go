package engine

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/stores"
)

// History returns every event about taskID (a task or a schedule), in log
// order, those retention archived first, in their view (EventView). It
// still answers after the task was deleted. ErrNotFound when neither the
// log nor the archive holds an event for it.
func (e *Engine) History(ctx context.Context, taskID string) ([]queue.Event, error) {
	evs, err := e.Events(ctx, taskID)
	if err != nil {
		return nil, err
	}
	out := make([]queue.Event, len(evs))
	for i, ev := range evs {
		out[i] = EventView(ev)
	}
	return out, nil
}

// Events is History as the log's events themselves, for audit.
func (e *Engine) Events(ctx context.Context, taskID string) ([]events.Event, error) {
	if err := e.syncRead(ctx); err != nil {
		return nil, err
	}
	from := uint64(1)
	e.mu.RLock()
	if r := e.state.Task(taskID); r != nil {
		from = r.EnqueuedPos
	}
	e.mu.RUnlock()
	var out []events.Event
	if l := e.archiveLookup(); l != nil {
		// History reads only the archive files whose id index holds taskID.
		var err error
		if out, err = l.History(ctx, taskID); err != nil {
			return nil, fmt.Errorf("engine: history of %q: %w", taskID, err)
		}
	}
	archived := len(out)
	err := stores.ReadAll(ctx, e.log, from, 4096, func(ev events.Event) error {
		if ev.TaskID == taskID && (archived == 0 || ev.Position > out[archived-1].Position) {
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: history of %q: %w", taskID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no history for %q", ErrNotFound, taskID)
	}
	return out, nil
}

// EventView returns ev as History reports it. A queue event
// (queue.paused, queue.resumed) has an empty TaskID and the queue in its
// payload ("queue"); a task.retried names the attempt it retried at
// ("attempt", left out at 0, as every zero field).
func EventView(ev events.Event) queue.Event {
	out := queue.Event{
		Position: ev.Position, ID: ev.ID.String(), Type: ev.Type().String(), Version: int(ev.Version),
		TaskID: ev.TaskID, Time: ev.Time.UTC(),
	}
	if ev.Payload != nil {
		if m, ok := viewValue(reflect.ValueOf(ev.Payload)).(map[string]any); ok && len(m) > 0 {
			out.Payload = m
		}
	}
	return out
}

var (
	timestampType = reflect.TypeFor[events.Timestamp]()
	durationType  = reflect.TypeFor[time.Duration]()
	timeType      = reflect.TypeFor[time.Time]()
)

// viewValue renders a payload value as plain data: structs as snake_case objects
// without their zero fields, Timestamps as times, durations as seconds.
// Payload structs hold only plain data (events.CheckValue), so this covers
// every event type, present and future.
func viewValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Type() {
	case timestampType:
		return events.Timestamp(v.Int()).Time()
	case durationType:
		return time.Duration(v.Int()).Seconds()
	case timeType:
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return viewValue(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || v.Field(i).IsZero() {
				continue
			}
			m[snakeCase(f.Name)] = viewValue(v.Field(i))
		}
		return m
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 || v.IsNil() {
			return v.Interface()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = viewValue(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			out[it.Key().String()] = viewValue(it.Value())
		}
		return out
	case reflect.String:
		return v.String() // named string types (CancelReason) as plain strings
	}
	return v.Interface()
}

// snakeCase turns a Go field name into the API's spelling: MaxRetries →
// max_retries, TTL → ttl, ScheduleID → schedule_id.
func snakeCase(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
