package nats

import (
	"context"
	"errors"
	"fmt"
	"net"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/stores"
)

// interpretError maps nats.go errors onto the stores sentinels. It is the only
// place that knows nats.go's error values; every error from a server call
// leaves this package through it.
func interpretError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := stores.ContextDone(ctx); ctxErr != nil {
		return fmt.Errorf("nats: %s: %w", op, ctxErr)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, natsgo.ErrConnectionClosed),
		errors.Is(err, jetstream.ErrConnectionClosed),
		errors.Is(err, jetstream.ErrJetStreamPublisherClosed):
		return fmt.Errorf("nats: %s: %w", op, stores.ErrClosed)
	case errors.Is(err, natsgo.ErrTimeout),
		// nats.go bounds requests without a deadline with its own timeout
		// context; the caller's ctx is still live here.
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, natsgo.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, natsgo.ErrDisconnected),
		errors.Is(err, natsgo.ErrConnectionReconnecting),
		errors.Is(err, natsgo.ErrReconnectBufExceeded),
		errors.Is(err, natsgo.ErrConnectionDraining),
		errors.Is(err, natsgo.ErrStaleConnection),
		errors.Is(err, natsgo.ErrNoServers),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.As(err, &netErr):
		return fmt.Errorf("nats: %s: %w: %w", op, stores.ErrUnavailable, err)
	default:
		return fmt.Errorf("nats: %s: %w", op, err)
	}
}

// isWrongLastSequence reports a publish refused by Nats-Expected-Last-Sequence.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
