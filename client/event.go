package client

import (
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/omniq/omniq/events"
)

// Event is one event of a task's history, as GET /v1/tasks/{id}/history
// reports it.
type Event struct {
	Position uint64    `json:"position"` // place in the log (1 is the first event)
	ID       string    `json:"id"`       // the event's ULID
	Type     string    `json:"type"`     // "task.enqueued", "task.leased", …
	Version  int       `json:"version"`  // schema version of the payload
	TaskID   string    `json:"task_id"`
	Time     time.Time `json:"time"`
	// Payload holds the event's fields in snake_case ("attempt", "deadline",
	// "result", "spec", …); times are RFC 3339, durations seconds, and fields
	// at their zero value are left out.
	Payload map[string]any `json:"payload,omitempty"`
}

// History is the body of GET /v1/tasks/{id}/history.
type History struct {
	Events []Event `json:"events"`
}

// EventOf returns ev in its wire form.
func EventOf(ev events.Event) Event {
	out := Event{
		Position: ev.Position, ID: ev.ID.String(), Type: ev.Type().String(), Version: int(ev.Version),
		TaskID: ev.TaskID, Time: ev.Time.UTC(),
	}
	if ev.Payload != nil {
		if m, ok := wireValue(reflect.ValueOf(ev.Payload)).(map[string]any); ok && len(m) > 0 {
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

// wireValue renders a payload value for JSON: structs as snake_case objects
// without their zero fields, Timestamps as times, durations as seconds.
// Payload structs hold only plain data (events.CheckValue), so this covers
// every event type, present and future.
func wireValue(v reflect.Value) any {
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
		return wireValue(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || v.Field(i).IsZero() {
				continue
			}
			m[snakeCase(f.Name)] = wireValue(v.Field(i))
		}
		return m
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 || v.IsNil() {
			return v.Interface()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = wireValue(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			out[it.Key().String()] = wireValue(it.Value())
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
