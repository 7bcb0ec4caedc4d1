package server

import (
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
)

// A long-poll dequeue whose client hangs up leases nothing, also when the
// request came with a body the route does not take (curl -d '{}', an empty
// chunked body from a client that streams its bodies): until a body is
// read to its end, net/http does not watch the connection for a close.
func TestDequeueLongPollClientGoneWithBody(t *testing.T) {
	for _, tc := range []struct{ name, head, body string }{
		{"no body", "", ""},
		{"json body", "Content-Type: application/json\r\nContent-Length: 2\r\n", "{}"},
		{"empty chunked body", "Transfer-Encoding: chunked\r\n", "0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := newTestServer(t, Config{})
			hs := httptest.NewServer(td.Server)
			defer hs.Close()
			conn, err := net.Dial("tcp", hs.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /v1/queues/default/dequeue?wait=60s HTTP/1.1\r\nHost: omniqd\r\n%s\r\n%s", tc.head, tc.body)
			waitFor(t, 10*time.Second, "the dequeue to wait", func() bool { return td.api.waiting.Load() == 1 })
			_ = conn.Close() // the worker is gone
			// A grace for the server to see the close (not an assertion:
			// on a slow machine the test may pass without proving much).
			for end := time.Now().Add(2 * time.Second); td.api.waiting.Load() != 0 && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
			td.enqueue(`{"id":"t","func":"f"}`)
			waitFor(t, 10*time.Second, "the dequeue to end", func() bool { return td.api.waiting.Load() == 0 })
			var got client.Task
			td.want(td.call("GET", "/v1/tasks/t", ""), 200, &got)
			if got.State != "pending" {
				t.Fatalf("task is %s at attempt %d: leased to a client that had hung up", got.State, got.Attempt)
			}
		})
	}
}
