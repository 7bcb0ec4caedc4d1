package eventjson_test

import (
	"bytes"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/events/eventjson"
)

// FuzzUnmarshal: garbage gives an error, never a panic; whatever decodes
// encodes to the log and back to JSON, and that JSON decodes to the same event.
func FuzzUnmarshal(f *testing.F) {
	for _, ev := range samples() {
		ev, _ = logged(f, ev)
		b, err := eventjson.Marshal(nil, ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"position":1,"id":"01JDV2Q0000000000000000000","type":"task.completed","version":1,"task_id":{"$bytes":"/w=="},` +
		`"time":"2026-11-27T04:00:00Z","payload":{"attempt":1,"result":{"$map":{"$time":{"$float":"NaN"}}}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := eventjson.Unmarshal(in)
		if err != nil {
			return
		}
		rec, err := events.Marshal(nil, ev)
		if err != nil {
			return // e.g. a value nested too deeply for the log: Append refuses it too
		}
		logged, err := events.Unmarshal(rec)
		if err != nil {
			t.Fatalf("decoded event does not survive the log codec: %v", err)
		}
		logged.Position = ev.Position
		out, err := eventjson.Marshal(nil, logged)
		if err != nil {
			t.Fatalf("logged event does not re-encode as JSON: %v", err)
		}
		back, err := eventjson.Unmarshal(out)
		if err != nil {
			t.Fatalf("re-encoded JSON does not decode: %v\n%s", err, out)
		}
		again, err := events.Marshal(nil, back)
		if err != nil || !bytes.Equal(again, rec) {
			t.Fatalf("JSON round trip changed the event: %v\n%s", err, out)
		}
	})
}
