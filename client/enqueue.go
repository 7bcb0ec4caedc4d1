package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
)

// Concurrent Enqueue calls through one Client share requests, as the
// engine's commands share appends. A call that finds fewer than
// gatherInFlight enqueue requests in flight sends its own task at once;
// one that finds them all busy waits, and the calls that gathered while
// they were busy go together as one batch, sent by the first of them as
// soon as a request finishes. Each call still answers for its own task
// alone:
//
//   - a batch is enqueued all or none, so when the server refuses a
//     gathered batch (any 4xx answer: one task's bad input, a duplicate
//     id, a body over the server's limit, a rate limit) nothing of it was
//     enqueued, and every call in it sends its own task again, by itself,
//     and gets the answer it would have had alone;
//   - an answer that leaves the outcome unknown (a transport error, a 5xx,
//     an unreadable answer) goes to every call in the batch, as it would
//     have to a call alone;
//   - a call whose ctx ends while it waits to be sent is withdrawn, and
//     nothing of it is sent; once sent, it returns ctx.Err() at once (the
//     task may or may not have been enqueued, as with a request of its
//     own), and the request itself is abandoned only when every call in
//     it has given up. The call that sends a batch is no exception: the
//     request runs in a goroutine of its own, and the call waits for it as
//     the others do.
//
// The order of tasks enqueued by concurrent calls is not defined, with or
// without gathering; one goroutine's calls keep their order, since each
// returns only after its task is enqueued.

const (
	// gatherInFlight is how many enqueue requests one Client keeps in
	// flight before further calls wait and gather.
	gatherInFlight = 2
	// gatherMaxTasks bounds the tasks in one gathered request.
	gatherMaxTasks = 512
	// gatherMaxBytes bounds one gathered request's body. When the server
	// answers a gathered batch 413 and each of its tasks is then taken
	// alone, the batch was over the server's --max-body: the bound becomes
	// half that batch's size (down to one task a request). A 413 that one
	// task gets alone too is that task's payload, and changes nothing.
	gatherMaxBytes = 1 << 20
)

// WithEnqueueGathering turns the gathering of concurrent Enqueue calls into
// shared requests on or off (default on). Off, every call is a request of
// its own.
func WithEnqueueGathering(on bool) Option {
	return func(c *Client) { c.gather.off = !on }
}

// gatherer holds the Enqueue calls waiting for a request.
type gatherer struct {
	off      bool
	mu       sync.Mutex
	inFlight int
	waiting  []*enqueueCall
	maxBytes int // 0: gatherMaxBytes
}

// enqueueCall is one Enqueue call's task and, once answered, its outcome.
type enqueueCall struct {
	ctx  context.Context
	body []byte        // the task's spec, encoded
	wake chan struct{} // signalled when lead is set, and when answered (buffer 1: each is taken before the next comes)
	lead []*enqueueCall
	// Set before wake is signalled, read after it.
	alone *refusedBatch // the batch was refused: send the task by itself
	got   Task
	err   error
}

// refusedBatch is a gathered batch the server answered 4xx, whose calls
// send their tasks again one by one.
type refusedBatch struct {
	size     int  // its body's length
	tooLarge bool // the answer was 413
	left     atomic.Int32
	alone413 atomic.Bool // a task alone was 413 too
}

// done counts one call's lone answer (err; nil when it gave up before
// sending); the last one decides whether the batch was too large as a
// whole, and if so lowers the client's bound on a batch's size.
func (r *refusedBatch) done(g *gatherer, err error) {
	var answer *Error
	if errors.As(err, &answer) && answer.Status == http.StatusRequestEntityTooLarge {
		r.alone413.Store(true)
	}
	if r.left.Add(-1) == 0 && r.tooLarge && !r.alone413.Load() {
		g.mu.Lock()
		g.maxBytes = max(min(g.limit(), r.size/2), 1)
		g.mu.Unlock()
	}
}

// enqueueOne enqueues spec, gathering it with concurrent calls, and returns
// the server's view of the task.
func (c *Client) enqueueOne(ctx context.Context, spec TaskSpec) (Task, error) {
	body, err := encodeSpec(spec)
	if err != nil {
		return Task{}, err
	}
	call := &enqueueCall{ctx: ctx, body: body}
	if c.gather.off {
		return c.enqueueAlone(call)
	}
	g := &c.gather
	g.mu.Lock()
	if g.inFlight < gatherInFlight {
		g.inFlight++
		g.mu.Unlock()
		c.sendGathered([]*enqueueCall{call})
		return call.got, call.err
	}
	call.wake = make(chan struct{}, 1)
	g.waiting = append(g.waiting, call)
	g.mu.Unlock()
	select {
	case <-call.wake:
	case <-ctx.Done():
		select {
		case <-call.wake: // answered, or made the sender, before it looked
			return c.woken(ctx, call)
		default:
		}
		g.mu.Lock()
		withdrawn := g.withdraw(call)
		g.mu.Unlock()
		if withdrawn {
			return Task{}, ctx.Err()
		}
		if call.lead == nil {
			return Task{}, ctx.Err() // sent by another call; not waited for
		}
		<-call.wake // made the sender: the batch goes for the others all the same
	}
	return c.woken(ctx, call)
}

// woken is enqueueOne once call's wake has come: it is answered, or it is
// to send its batch.
func (c *Client) woken(ctx context.Context, call *enqueueCall) (Task, error) {
	if batch := call.lead; len(batch) == 1 {
		c.sendGathered(batch) // its own request, ended by its own ctx
	} else if batch != nil {
		go c.sendGathered(batch)
		select {
		case <-call.wake:
		case <-ctx.Done():
			return Task{}, ctx.Err()
		}
	}
	if call.alone != nil {
		if err := ctx.Err(); err != nil {
			call.alone.done(&c.gather, nil)
			return Task{}, err
		}
		got, err := c.enqueueAlone(call)
		call.alone.done(&c.gather, err)
		return got, err
	}
	return call.got, call.err
}

// limit is the bound on a gathered request's body. g.mu is held.
func (g *gatherer) limit() int {
	if g.maxBytes == 0 {
		return gatherMaxBytes
	}
	return g.maxBytes
}

// withdraw removes call from the waiting calls; false when it was already
// taken into a batch. g.mu is held.
func (g *gatherer) withdraw(call *enqueueCall) bool {
	for i, w := range g.waiting {
		if w == call {
			g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// next takes the waiting calls that fit one request, makes the first of
// them its sender and wakes it; with none waiting, the request slot is
// given back. g.mu is held.
func (g *gatherer) next() {
	if len(g.waiting) == 0 {
		g.inFlight--
		return
	}
	limit := g.limit()
	n, size := 0, len(`{"tasks":[]}`)-1
	for n < len(g.waiting) && n < gatherMaxTasks {
		size += len(g.waiting[n].body) + 1
		if n > 0 && size > limit {
			break
		}
		n++
	}
	batch := make([]*enqueueCall, n)
	copy(batch, g.waiting)
	g.waiting = append(g.waiting[:0], g.waiting[n:]...)
	batch[0].lead = batch
	batch[0].wake <- struct{}{}
}

// sendGathered sends the calls of batch whose ctx has not ended (one that
// ended before the request is made is withdrawn), sets each call's
// outcome, wakes every call but a lone one (it is the caller), and hands
// the request slot on.
func (c *Client) sendGathered(batch []*enqueueCall) {
	live := batch
	if len(batch) > 1 {
		live = make([]*enqueueCall, 0, len(batch))
		for _, call := range batch {
			if call.err = call.ctx.Err(); call.err == nil {
				live = append(live, call)
			}
		}
	}
	var err error
	got := make([]Task, len(live))
	switch len(live) {
	case 0:
	case 1:
		err = c.send(live[0].ctx, http.MethodPost, "/v1/tasks", nil, bytes.NewReader(live[0].body), &got[0], nil)
	default:
		ctx, stop := batchContext(live)
		body := batchBody(live)
		var list TaskList
		err = c.send(ctx, http.MethodPost, "/v1/tasks", nil, bytes.NewReader(body), &list, nil)
		stop()
		if err == nil && len(list.Tasks) != len(live) {
			err = fmt.Errorf("%w: enqueued %d tasks, server answered with %d", ErrProtocol, len(live), len(list.Tasks))
		}
		if err == nil {
			got = list.Tasks
		}
		var refused *Error
		if errors.As(err, &refused) && refused.Status >= 400 && refused.Status < 500 {
			r := &refusedBatch{size: len(body), tooLarge: refused.Status == http.StatusRequestEntityTooLarge}
			r.left.Store(int32(len(live)))
			for _, call := range live {
				call.alone = r
			}
			err = nil
		}
	}
	for i, call := range live {
		if call.alone == nil {
			call.got, call.err = got[i], err
		}
	}
	if len(batch) > 1 {
		for _, call := range batch {
			call.wake <- struct{}{}
		}
	}
	c.gather.mu.Lock()
	c.gather.next()
	c.gather.mu.Unlock()
}

// enqueueAlone sends call's task in a request of its own.
func (c *Client) enqueueAlone(call *enqueueCall) (Task, error) {
	var got Task
	err := c.send(call.ctx, http.MethodPost, "/v1/tasks", nil, bytes.NewReader(call.body), &got, nil)
	return got, err
}

// batchContext returns the context of a gathered request: the first
// call's values, ended when every call's ctx has ended (or by stop).
func batchContext(batch []*enqueueCall) (context.Context, func()) {
	if len(batch) == 1 {
		return batch[0].ctx, func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	live := int32(len(batch))
	stops := make([]func() bool, len(batch))
	for i, call := range batch {
		stops[i] = context.AfterFunc(call.ctx, func() {
			if atomic.AddInt32(&live, -1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}

// batchBody joins the calls' specs into a wire.Batch.
func batchBody(batch []*enqueueCall) []byte {
	n := len(`{"tasks":[]}`)
	for _, call := range batch {
		n += len(call.body) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"tasks":[`...)
	for i, call := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, call.body...)
	}
	return append(b, "]}"...)
}

// encodeSpec encodes spec as a request body, as doFound does.
func encodeSpec(spec TaskSpec) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeRequest(&buf, &spec); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
