package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/memory"
)

// FuzzEnqueueCron: a cron spec from anywhere (an API body, a config file)
// either makes a schedule or is refused with ErrInvalidCron, and a refused
// one appends nothing; no spec panics or hangs the engine. A schedule that
// is made fires at a time after now.
func FuzzEnqueueCron(f *testing.F) {
	for _, seed := range []string{
		"0 2 * * *", "*/5 * * * *", "0 0 1 1 *", "@hourly", "@daily", "@every 90s", "@every 0s", "@every -1s",
		"CRON_TZ=Europe/Paris 0 2 * * *", "TZ=UTC * * * * *", "CRON_TZ=Mars/Olympus 0 2 * * *",
		"0 0 30 2 *", "*/0 * * * *", "1-0 * * * *", "60 * * * *", "* * * * * * *", "? * * * *",
		"0-59/7 1,2,3 L * MON-FRI", "5 4 * * SUN#2", "", " ", "@", "@every", "@every 999999999999h",
		"CRON_TZ=", "0 0 * * 7", "0 0 * JAN-DEC *", "-1 * * * *", "1/-1 * * * *",
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	log := memory.New()
	e, err := engine.Open(ctx, log, engine.WithClock(engine.NewManualClock(now)), engine.WithSnapshotEvery(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close(); _ = log.Close() })

	f.Fuzz(func(t *testing.T, spec string) {
		before := e.Position()
		task := &engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: spec}}
		err := e.Enqueue(ctx, task)
		switch {
		case spec == "":
			// No cron: a plain task.
			if err != nil {
				t.Fatalf("empty cron: %v", err)
			}
		case err == nil:
			if task.State != engine.StateScheduled || !task.NextRunAt.After(now) {
				t.Fatalf("cron %q: schedule %s, next run %v; want scheduled after %v", spec, task.State, task.NextRunAt, now)
			}
		case errors.Is(err, engine.ErrInvalidCron):
			if after := e.Position(); after != before {
				t.Fatalf("cron %q refused (%v) but the log moved %d -> %d", spec, err, before, after)
			}
		default:
			t.Fatalf("cron %q: %v, want nil or ErrInvalidCron", spec, err)
		}
	})
}

// A zone prefix without the fields is ErrInvalidCron (robfig/cron v3.0.1's
// parser panics on it: parser.go:99).
func TestEnqueueCronZoneWithoutFields(t *testing.T) {
	ctx := context.Background()
	log := memory.New()
	defer log.Close()
	e, err := engine.Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, spec := range []string{"CRON_TZ=", "TZ=Europe/Paris", "CRON_TZ=UTC"} {
		err := e.Enqueue(ctx, &engine.Task{Func: "f", Schedule: &engine.Schedule{Cron: spec}})
		if !errors.Is(err, engine.ErrInvalidCron) {
			t.Errorf("cron %q: %v, want ErrInvalidCron", spec, err)
		}
	}
}
