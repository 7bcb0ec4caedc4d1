package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storetest"
)

// TestPresence runs the suite on the conformance harness, whose cleanup
// drops the log's tables, and drops the presence table too.
func TestPresence(t *testing.T) {
	dsn := testDSN(t)
	h := harness(dsn)
	open := h.Open
	h.Open = func(t testing.TB, name string) stores.Log {
		l := open(t, name)
		t.Cleanup(func() { dropMembers(t, dsn, logName(name)) })
		return l
	}
	storetest.RunPresence(t, h)
}

func dropMembers(t testing.TB, dsn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("drop members of %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+membersTable(name)); err != nil {
		t.Errorf("drop members of %s: %v", name, err)
	}
}
