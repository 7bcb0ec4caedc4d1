package client

import (
	"net/http"
	"strconv"
	"time"
)

// retryAfter reads a Retry-After header given in seconds (0 when absent or
// given as a date).
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(min(s, 3600)) * time.Second
}

// trunc cuts s for a message: an answer quoted in an error stays short.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
