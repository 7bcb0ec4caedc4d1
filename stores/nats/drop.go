package nats

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/stores"
)

var _ stores.Dropper = (*Log)(nil)

// Drop implements stores.Dropper: it deletes the log's stream, the bucket
// holding its large batches and snapshot, and the bucket of its presence
// records (MembersBucket).
func (l *Log) Drop(ctx context.Context) error {
	if err := l.js.DeleteStream(ctx, StreamName(l.name)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return interpretError(ctx, "drop stream", err)
	}
	if err := l.js.DeleteObjectStore(ctx, BucketName(l.name)); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return interpretError(ctx, "drop bucket", err)
	}
	if err := l.js.DeleteKeyValue(ctx, MembersBucket(l.name)); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return interpretError(ctx, "drop members bucket", err)
	}
	return nil
}
