package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/omniq/omniq/wire"
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
			a.writeError(w, r, fmt.Errorf("%w: send the server's token as \"Authorization: Bearer <token>\"", wire.ErrUnauthorized))
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

// rateLimiter bounds how many requests each client — each remote IP
// address — may send: rps a second on average, in bursts of up to a
// second's worth (at least one). Requests past it are answered 429
// rate_limited with Retry-After and do nothing. GET /healthz is exempt, as
// from the token. The address is the connection's: behind a proxy every
// client shares the proxy's (X-Forwarded-For is not trusted). Safe for
// concurrent use.
type rateLimiter struct {
	rps     rate.Limit
	burst   int
	limited prometheus.Counter

	mu        sync.Mutex // guards what follows
	clients   map[string]*clientRate
	lastSweep time.Time
}

// clientRate is one client's token bucket.
type clientRate struct {
	lim  *rate.Limiter
	seen time.Time
}

// rateSweepEvery is how often buckets idle long enough to be full again
// are forgotten.
const rateSweepEvery = time.Minute

// newRateLimiter returns a limiter of rps requests a second per client IP,
// nil when rps is 0 (no limit). Its refusals are counted in reg.
func newRateLimiter(rps float64, reg prometheus.Registerer) *rateLimiter {
	if rps <= 0 {
		return nil
	}
	l := &rateLimiter{
		rps:   rate.Limit(rps),
		burst: max(1, int(math.Ceil(rps))),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omniq_http_rate_limited_total", Help: "Requests refused with 429 because their client IP exceeded --rate-limit.",
		}),
		clients:   map[string]*clientRate{},
		lastSweep: time.Now(),
	}
	reg.MustRegister(l.limited)
	return l
}

// wrap returns next behind the limiter; a nil limiter returns next.
func (l *rateLimiter) wrap(a *api, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if ok, retry := l.allow(clientIP(r), time.Now()); !ok {
			l.limited.Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
			a.writeError(w, r, fmt.Errorf("%w: more than %g requests a second from this address; retry in %s",
				wire.ErrRateLimited, float64(l.rps), retry.Round(time.Millisecond)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allow takes a token from ip's bucket, or says how long until one is
// there (at least a second, as Retry-After counts whole seconds).
func (l *rateLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= rateSweepEvery {
		l.sweep(now)
	}
	c := l.clients[ip]
	if c == nil {
		c = &clientRate{lim: rate.NewLimiter(l.rps, l.burst)}
		l.clients[ip] = c
	}
	c.seen = now
	if c.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - c.lim.TokensAt(now)
	return false, max(time.Second, time.Duration(missing/float64(l.rps)*float64(time.Second)))
}

// sweep forgets the buckets that have refilled: a new one is the same.
// Lock should be held.
func (l *rateLimiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.rps) * float64(time.Second))
	for ip, c := range l.clients {
		if now.Sub(c.seen) > full {
			delete(l.clients, ip)
		}
	}
	l.lastSweep = now
}

// clientIP is the IP address of the request's connection.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
