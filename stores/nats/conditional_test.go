package nats_test

import (
	"context"
	"errors"
	"testing"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// TestAppendAtLargeBatch: a large batch (its data in an object) refused by
// AppendAt leaves no object behind, whether the conflict is seen before the
// upload or only by the server, and one accepted reads back.
func TestAppendAtLargeBatch(t *testing.T) {
	name := storetest.UniqueName("condlarge")
	ctx := context.Background()
	a, b := open(t, name), open(t, name)
	js := jetStream(t)
	large := []events.Event{
		largeEvent("large", 3<<19),
		storetest.Event("after-large", 1),
	}
	if first, err := a.AppendAt(ctx, 0, []events.Event{storetest.Event("a", 1)}); err != nil || first != 1 {
		t.Fatalf("append at 0 = %d, %v; want 1", first, err)
	}
	if head, err := b.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head = %d, %v; want 1", head, err)
	}
	if _, err := a.Append(ctx, []events.Event{storetest.Event("a", 2)}); err != nil {
		t.Fatal(err)
	}
	// b still takes 1 for the head: the server refuses the publish.
	// Then: a head b knows is past, and one b must ask the server about.
	for _, after := range []uint64{1, 0, 5} {
		if _, err := b.AppendAt(ctx, after, large); !errors.Is(err, stores.ErrConflict) {
			t.Fatalf("append of a large batch at %d with the head at 2: %v, want ErrConflict", after, err)
		}
		if objs := largeBatches(t, js, name); len(objs) != 0 {
			t.Fatalf("refused append at %d left objects %v", after, objs)
		}
	}
	if first, err := b.AppendAt(ctx, 2, large); err != nil || first != 3 {
		t.Fatalf("append of a large batch at 2 = %d, %v; want 3", first, err)
	}
	if objs := largeBatches(t, js, name); len(objs) != 1 {
		t.Fatalf("objects after a large append: %v, want one", objs)
	}
	got, err := a.Read(ctx, 3, 10)
	if err != nil || len(got) != 2 || got[0].TaskID != "large" || got[1].TaskID != "after-large" || got[1].Position != 4 {
		t.Fatalf("read of the large batch = %v, %v", got, err)
	}
}
