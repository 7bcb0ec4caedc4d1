package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/internal/apicheck"
	"github.com/omniq/omniq/server"
)

// The daemon's API tests check their traffic against the daemon's OpenAPI
// document (package internal/apicheck): the in-process daemons
// (newTestDaemon, startTestServer) on the server's side, every client of
// newTestClient, which the e2e and cluster tests' child daemons answer, on
// the client's side.

// checkingHandler wraps h so that every exchange is checked against the
// document; a mismatch fails t.
func checkingHandler(t testing.TB, h http.Handler) http.Handler {
	return apicheck.Must(t, server.OpenAPIDocument()).Handler(t, h)
}

// checkedServer serves h on a loopback listener through checkingHandler.
func checkedServer(t testing.TB, h http.Handler) string {
	return apicheck.Must(t, server.OpenAPIDocument()).Serve(t, h)
}

// newCheckingTransport checks, on the client's side, every exchange it
// carries against the document.
func newCheckingTransport(t testing.TB) http.RoundTripper {
	return apicheck.Must(t, server.OpenAPIDocument()).Transport(t)
}

// checkedClientOptions has a client of url check its exchanges on the
// client's side (newCheckingTransport), when url is plain HTTP.
func checkedClientOptions(t testing.TB, url string) []client.Option {
	if !strings.HasPrefix(url, "http://") {
		return nil
	}
	return []client.Option{client.WithHTTPClient(&http.Client{Transport: newCheckingTransport(t)})}
}

// The checks as this package wires them report an answer the document
// does not allow: on the server's side (checkedServer, which
// startTestServer serves through) and on the client's (the transport
// newTestClient gives its clients).
func TestOpenAPICheckersReport(t *testing.T) {
	apicheck.ExpectReports(t, checkedServer, newCheckingTransport)
}
