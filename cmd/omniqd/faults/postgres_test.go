package faults

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// withQuery adds key=value parameters to a postgres URL or key=value DSN.
func withQuery(dsn string, kv ...string) string {
	if !strings.Contains(dsn, "://") {
		for i := 0; i+1 < len(kv); i += 2 {
			dsn += " " + kv[i] + "=" + kv[i+1]
		}
		return dsn
	}
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + q.Encode()
}

// terminateBackends ends every server connection whose application_name is
// app (what a server restart does to them), and returns how many it ended.
// The shared server itself keeps running for the other tests.
func terminateBackends(ctx context.Context, dsn, app string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n)
	return n, err
}

// restartPostgres restarts the machine's PostgreSQL cluster (only with
// -restart-postgres: other tests share it) and waits until it accepts
// connections again.
func restartPostgres(ctx context.Context, dsn string) error {
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) == 0 {
		return fmt.Errorf("no cluster under /etc/postgresql: %v", err)
	}
	out, err := exec.CommandContext(ctx, "pg_ctlcluster", "--skip-systemctl-redirect", versions[0].Name(), "main", "restart").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctlcluster restart: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, dsn)
		if err == nil {
			conn.Close(cctx)
			cancel()
			return nil
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 60s of its restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
