package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores/memory"
)

// openTravel opens an engine on a memory log with a manual clock.
func openTravel(t *testing.T, start time.Time) (*engine.Engine, *engine.ManualClock) {
	t.Helper()
	clk := engine.NewManualClock(start)
	log := memory.New()
	e, err := engine.Open(context.Background(), log, engine.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(); _ = log.Close() })
	return e, clk
}

// PositionAt finds the last event at or before an instant; StateAt
// rebuilds the state there, from the log's start or from an earlier
// point, the same either way.
func TestStateAtAndPositionAt(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e, clk := openTravel(t, start)
	ctx := context.Background()
	for i := range 10 { // task i at position i+1, at start + i minutes
		if err := e.Enqueue(ctx, &engine.Task{ID: fmt.Sprint("t", i), Func: "f"}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	for at, want := range map[time.Duration]uint64{
		-time.Second: 0, 0: 1, 30 * time.Second: 1, 4 * time.Minute: 5, 9 * time.Minute: 10, time.Hour: 10,
	} {
		got, err := e.PositionAt(ctx, start.Add(at))
		if err != nil || got != want {
			t.Errorf("PositionAt(start%+v) = %d, %v; want %d", at, got, err, want)
		}
	}
	p4, err := e.StateAt(ctx, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := e.StateAt(ctx, 7, p4) // from p4's copy
	if err != nil {
		t.Fatal(err)
	}
	p7full, err := e.StateAt(ctx, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p7.Position() != 7 || !p7.Time().Equal(start.Add(6*time.Minute)) {
		t.Fatalf("p7 at %d, %s", p7.Position(), p7.Time())
	}
	if a, b := p7.Stats().Queues, p7full.Stats().Queues; fmt.Sprint(a) != fmt.Sprint(b) || a["default"][engine.StatePending] != 7 {
		t.Fatalf("at 7 from 4: %v; from the start: %v", a, b)
	}
	if _, err := p4.GetTask("t4"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("t4 at 4: %v, want ErrNotFound", err)
	}
	if p4.Stats().Queues["default"][engine.StatePending] != 4 {
		t.Fatal("copying p4 changed it")
	}
	if _, err := e.StateAt(ctx, 11, nil); !errors.Is(err, engine.ErrInvalidArgument) {
		t.Fatalf("past the head: %v", err)
	}
	empty, err := e.StateAt(ctx, 0, nil)
	if err != nil || len(empty.Stats().Queues) != 0 {
		t.Fatalf("at 0: %v", err)
	}
}

// Timetable lists the tasks held back soonest first, cut at its limit
// but counting all; RecentFires finds a schedule's fires newest first.
func TestTimetableAndRecentFires(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e, clk := openTravel(t, start)
	ctx := context.Background()
	for i := range 25 { // run-at times in reverse order of ids
		err := e.Enqueue(ctx, &engine.Task{ID: fmt.Sprintf("d%02d", i), Func: "f",
			Schedule: &engine.Schedule{RunAt: start.Add(time.Duration(100-i) * time.Hour)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Enqueue(ctx, &engine.Task{ID: "tick", Func: "f", Schedule: &engine.Schedule{Interval: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		clk.Advance(time.Minute)
		deadline := time.Now().Add(10 * time.Second)
		for {
			tk, err := e.GetTask(ctx, "tick")
			if err == nil && tk.Fires == i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fire %d: %v", i, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	tt, err := e.Timetable(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tt.DelayedTotal != 25 || len(tt.Delayed) != 3 || tt.Delayed[0].ID != "d24" || tt.Delayed[2].ID != "d22" {
		t.Fatalf("delayed: %d in all, first %v", tt.DelayedTotal, tt.Delayed)
	}
	if len(tt.Schedules) != 1 || tt.Schedules[0].Fires != 4 {
		t.Fatalf("schedules: %+v", tt.Schedules)
	}
	fires, err := e.RecentFires(ctx, []string{"tick", "d00"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	got := fires["tick"]
	if len(got) != 3 || got[0].Instance != tt.Schedules[0].LastInstance || !got[0].FireTime.After(got[1].FireTime) || len(fires["d00"]) != 0 {
		t.Fatalf("recent fires: %+v", fires)
	}
	for _, f := range got {
		if tk, err := e.GetTask(ctx, f.Instance); err != nil || tk.ScheduleID != "tick" {
			t.Fatalf("fire %+v: its task %v, %v", f, tk, err)
		}
	}
	// One more fire: the answer is the new fire, then those found before
	// (remembered, not read again), newest first.
	clk.Advance(time.Minute)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if tk, err := e.GetTask(ctx, "tick"); err == nil && tk.Fires == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fire 5 did not come")
		}
	}
	again, err := e.RecentFires(ctx, []string{"tick"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if a := again["tick"]; len(a) != 3 || a[0].Position <= got[0].Position || a[1] != got[0] || a[2] != got[1] {
		t.Fatalf("after a fifth fire: %+v, before %+v", a, got)
	}
	if one, err := e.RecentFires(ctx, []string{"tick"}, 1); err != nil || len(one["tick"]) != 1 || one["tick"][0] != again["tick"][0] {
		t.Fatalf("newest fire alone: %+v, %v", one, err)
	}
	if all, err := e.RecentFires(ctx, []string{"tick"}, 10); err != nil || len(all["tick"]) != 5 || all["tick"][1] != again["tick"][1] {
		t.Fatalf("all five fires: %+v, %v", all, err)
	}
	if _, err := e.Timetable(ctx, engine.MaxTimetableDelayed+1); !errors.Is(err, engine.ErrInvalidArgument) {
		t.Fatalf("limit too big: %v", err)
	}
}
