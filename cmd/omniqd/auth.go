package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/omniq/omniq/client"
)

// requireToken wraps next so that every request but GET /healthz must carry
// "Authorization: Bearer <token>". With an empty token it returns next.
// The comparison is in constant time (of hashes, so the token's length does
// not leak either).
func requireToken(token string, a *api, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			a.writeError(w, r, fmt.Errorf("%w: send the server's token as \"Authorization: Bearer <token>\"", client.ErrUnauthorized))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer extracts the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 6750).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// checkListenPolicy refuses to serve without a token on an address other
// machines can reach, unless insecure says the network is trusted.
func checkListenPolicy(listen, token string, insecure bool) error {
	if token != "" || insecure || isLoopback(listen) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %q without a token: anyone who can reach it could run and delete tasks; "+
		"set --token (or OMNIQ_TOKEN), listen on 127.0.0.1, or pass --insecure on a trusted network", listen)
}

// isLoopback reports whether listen ("host:port") binds only the loopback
// interface. An empty host (":7070") binds every interface.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
