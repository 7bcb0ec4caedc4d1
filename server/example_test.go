package server_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/server"
	"github.com/omniq/omniq/stores/memory"
)

// A program that embeds the engine serves the API on its own mux beside
// its other routes, and a remote program reaches the same queue through
// package client.
func Example() {
	ctx := context.Background()
	store := memory.New() // or any store: pebble.Open(dir), postgres.Open(ctx, dsn), …
	defer store.Close()
	srv := server.New(nil, server.Config{Token: "s3cret"}) // answers 503 until Attach
	q, err := engine.Open(ctx, store, engine.WithObserver(srv.Observer()))
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	if err := srv.Attach(q); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	mux.Handle("/", srv) // /v1/…, /healthz, /readyz, /metrics, /openapi.json
	ts := httptest.NewServer(mux)
	defer ts.Close()
	defer srv.Drain() // before the listener closes: waiting dequeues answer at once

	c, err := client.New(ts.URL, client.WithToken("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sum := &queue.Task{Func: "add", Args: []any{10, 20}}
	if err := c.Enqueue(ctx, sum); err != nil {
		log.Fatal(err)
	}
	leased, err := q.Dequeue(ctx, "default") // the embedded engine sees the remote task
	if err != nil {
		log.Fatal(err)
	}
	if err := q.Complete(ctx, leased, leased.Args[0].(int64)+leased.Args[1].(int64)); err != nil {
		log.Fatal(err)
	}
	done, err := c.GetTask(ctx, sum.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(done.State, done.Result)
	// Output: completed 30
}
