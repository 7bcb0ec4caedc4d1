package queue

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// Handlers is the registry of handlers by func name that a worker pool runs
// from: the embedded engine's and the remote client's Work use one each. The
// zero value is empty and ready; it is safe for concurrent use.
type Handlers struct {
	m sync.Map // func name -> Handler
}

// Register names the handler that runs tasks whose Func is funcName.
// ErrInvalidHandler for an empty name, a nil handler, or a name already
// taken.
func (hs *Handlers) Register(funcName string, h Handler) error {
	if funcName == "" || h == nil {
		return fmt.Errorf("%w: need a func name and a handler", ErrInvalidHandler)
	}
	if _, loaded := hs.m.LoadOrStore(funcName, h); loaded {
		return fmt.Errorf("%w: %q is already registered", ErrInvalidHandler, funcName)
	}
	return nil
}

// Call runs task's handler: ErrNoHandler when none is registered for its
// Func, and a panic in the handler becomes the attempt's error (with the
// stack), not a crash.
func (hs *Handlers) Call(ctx context.Context, task *Task) (result any, err error) {
	v, ok := hs.m.Load(task.Func)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoHandler, task.Func)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return v.(Handler)(ctx, task)
}
