package stores_test

import (
	"errors"
	"testing"
	"time"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
)

// TestPrepareAppend: the op is named before anything is checked, an empty
// batch is refused before the backend's check runs, the check's error
// comes back as it is, and a good batch comes back encoded.
func TestPrepareAppend(t *testing.T) {
	batch := []events.Event{events.New("t", time.Unix(0, 0), &events.TaskDeleted{})}
	var checked []string
	check := func(op string) error { checked = append(checked, op); return nil }

	op, data, err := stores.PrepareAppend("b", batch, false, 0, check)
	if err != nil || op != "append" || len(data) == 0 {
		t.Fatalf("plain append: op %q, %d bytes, %v", op, len(data), err)
	}
	evs, err := events.UnmarshalBatch(data, 1)
	if err != nil || len(evs) != 1 || evs[0].TaskID != "t" {
		t.Fatalf("encoding decodes to %+v, %v", evs, err)
	}
	if op, _, _ = stores.PrepareAppend("b", batch, true, 7, check); op != "append at 7" {
		t.Fatalf("conditional append: op %q", op)
	}
	if len(checked) != 2 || checked[0] != "append" || checked[1] != "append at 7" {
		t.Fatalf("check ran for %q", checked)
	}

	checked = nil
	if _, _, err := stores.PrepareAppend("b", nil, false, 0, check); !errors.Is(err, stores.ErrEmptyBatch) || len(checked) != 0 {
		t.Fatalf("empty batch: %v, check ran for %q", err, checked)
	}
	refused := errors.New("refused")
	if _, data, err := stores.PrepareAppend("b", batch, false, 0, func(string) error { return refused }); err != refused || data != nil {
		t.Fatalf("refused by the check: %v, %d bytes", err, len(data))
	}
}
