package server

import (
	"net/http"
	"time"

	"github.com/omniq/omniq/engine"
)

// The schedules page (/ui/schedules): every recurring schedule, with its
// last fires, and the tasks held back until a time (engine.Timetable).

// Bounds of the schedules page.
const (
	scheduleFiresShown = 5   // recent fires per schedule
	delayedShown       = 200 // tasks held back listed
)

// schedulesPage is the schedules page's data.
type schedulesPage struct {
	Timetable engine.Timetable
	Fires     map[string][]engine.ScheduleFire
	// FiresErr says why the recent fires could not be read ("": they were).
	FiresErr string
}

func (u *ui) schedules(r *http.Request, q *engine.Engine) (string, view, error) {
	tt, err := q.Timetable(r.Context(), delayedShown)
	if err != nil {
		return "", view{}, err
	}
	p := schedulesPage{Timetable: tt}
	ids := make([]string, len(tt.Schedules))
	for i, sc := range tt.Schedules {
		ids[i] = sc.ID
	}
	if p.Fires, err = q.RecentFires(r.Context(), ids, scheduleFiresShown); err != nil {
		p.FiresErr = err.Error()
	}
	return "schedules", view{Title: "Schedules", Position: tt.Position, Live: "/ui/schedules?fragment=1", Page: p}, nil
}

// every renders a schedule's period: its cron expression, or its interval.
func every(sc engine.ScheduleInfo) string {
	if sc.Cron != "" {
		return "cron " + sc.Cron
	}
	return "every " + sc.Interval.String()
}

// until renders how long from now t is, coarsely ("in 3m20s", "2s ago").
func until(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Until(t).Round(time.Second)
	if d < 0 {
		return (-d).String() + " ago"
	}
	return "in " + d.String()
}
