package nats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/omniq/omniq/stores"
)

const (
	snapObject  = "snapshot" // object name in the log's bucket
	snapPosMeta = "position" // object metadata key holding the position
)

// SaveSnapshot implements stores.SnapshotStore. The snapshot is one object in
// the log's bucket; a save replaces it when its metadata is written, after its
// chunks, so a reader sees the old or the new snapshot whole.
func (l *Log) SaveSnapshot(ctx context.Context, position uint64, data []byte) error {
	if l.closed.Load() {
		return stores.ErrClosed
	}
	meta := jetstream.ObjectMeta{
		Name:     snapObject,
		Metadata: map[string]string{snapPosMeta: strconv.FormatUint(position, 10)},
	}
	_, err := l.obs.Put(ctx, meta, bytes.NewReader(data))
	return interpretError(ctx, "save snapshot", err)
}

// LoadSnapshot implements stores.SnapshotStore. Errors: stores.ErrNoSnapshot,
// stores.ErrClosed, stores.ErrCorrupt, stores.ErrUnavailable.
func (l *Log) LoadSnapshot(ctx context.Context) (uint64, []byte, error) {
	if l.closed.Load() {
		return 0, nil, stores.ErrClosed
	}
	r, err := l.obs.Get(ctx, snapObject)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, nil, stores.ErrNoSnapshot
	}
	if err != nil {
		return 0, nil, interpretError(ctx, "load snapshot", err)
	}
	defer r.Close()
	info, err := r.Info()
	if err != nil {
		return 0, nil, interpretError(ctx, "load snapshot", err)
	}
	pos, err := strconv.ParseUint(info.Metadata[snapPosMeta], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("nats: load snapshot: position %q: %w", info.Metadata[snapPosMeta], stores.ErrCorrupt)
	}
	data, err := io.ReadAll(r)
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		return 0, nil, fmt.Errorf("nats: load snapshot: %w: %w", stores.ErrCorrupt, err)
	}
	if err != nil {
		return 0, nil, interpretError(ctx, "load snapshot", err)
	}
	return pos, data, nil
}
