package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/wire"
)

// defaultHeartbeat is how often an idle event stream gets a comment line,
// so that proxies keep it open and a dead client is noticed.
const defaultHeartbeat = 15 * time.Second

// streamParams is what GET /v1/events asks for.
type streamParams struct {
	after  uint64 // stream the events after this position
	filter engine.EventFilter
}

// streamParamsOf reads the query and Last-Event-ID; the header, which a
// reconnecting EventSource sends, wins over from. Without either the
// stream starts at the engine's position: only new events.
func streamParamsOf(r *http.Request, q *engine.Engine) (streamParams, error) {
	p := streamParams{after: q.Position()}
	query := r.URL.Query()
	for k, vs := range query {
		if len(vs) != 1 {
			return p, fmt.Errorf("%w: query parameter %q given %d times", engine.ErrInvalidArgument, k, len(vs))
		}
		switch v := vs[0]; k {
		case "from":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return p, fmt.Errorf("%w: from=%q must be a log position (a whole number, 0 for the beginning)", engine.ErrInvalidArgument, v)
			}
			p.after = n
		case "task":
			p.filter.Task = v
		case "queue":
			p.filter.Queue = v
		default:
			return p, fmt.Errorf("%w: unknown query parameter %q (want from, task, queue)", engine.ErrInvalidArgument, k)
		}
	}
	if id := strings.TrimSpace(r.Header.Get("Last-Event-ID")); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: Last-Event-ID %q must be a log position", engine.ErrInvalidArgument, id)
		}
		p.after = n
	}
	return p, nil
}

// eventsStream serves GET /v1/events: the log's events as Server-Sent
// Events, each with its position as id and its History view as data,
// following the log until the client goes, the server drains or the
// engine closes.
func (a *api) eventsStream(w http.ResponseWriter, r *http.Request, q *engine.Engine) error {
	p, err := streamParamsOf(r, q)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n: following from position "+strconv.FormatUint(p.after, 10)+"\n\n"); err != nil {
		return nil
	}
	if rc.Flush() != nil {
		return nil
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.stopping, cancel) // Drain ends the stream
	defer stop()
	evs := make(chan queue.Event, 64)
	followed := make(chan error, 1)
	go func() {
		defer close(evs)
		followed <- q.FollowViews(ctx, p.after, p.filter, func(ev queue.Event) error {
			select {
			case evs <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	defer func() {
		cancel()
		for range evs {
		}
	}()
	beat := time.NewTicker(a.beat)
	defer beat.Stop()
	var buf []byte
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				if err := <-followed; err != nil && ctx.Err() == nil && !errors.Is(err, engine.ErrClosed) {
					a.logger.Warn("event stream ended", "err", err)
				}
				return nil
			}
			if buf, err = appendSSE(buf[:0], ev); err != nil {
				a.logger.Error("event stream: encode", "position", ev.Position, "err", err)
				return nil
			}
			// More events already waiting go out in the same flush.
			for more := true; more; {
				select {
				case ev, ok := <-evs:
					if !ok {
						more = false
						break
					}
					if buf, err = appendSSE(buf, ev); err != nil {
						a.logger.Error("event stream: encode", "position", ev.Position, "err", err)
						return nil
					}
					more = len(buf) < 64<<10
				default:
					more = false
				}
			}
		case <-beat.C:
			buf = append(buf[:0], ": heartbeat\n\n"...)
		case <-ctx.Done():
			return nil
		}
		if _, err := w.Write(buf); err != nil {
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}

// appendSSE appends ev to b as one Server-Sent Event: its position as id,
// its History view (wire.Event) as data, on one line.
func appendSSE(b []byte, ev queue.Event) ([]byte, error) {
	data, err := json.Marshal(wire.Event(ev))
	if err != nil {
		return b, err
	}
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.Position, 10)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...), nil
}
