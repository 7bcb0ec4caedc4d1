package main

// Security of the daemon: HTTPS, secrets kept out of logs and metrics, and
// the per-client rate limit.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/client"
	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost,
// and its key, into dir; it returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "omniqd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestE2ETLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	srv := startOmniqdOver(t, pool, []string{"OMNIQ_TLS_CERT=" + certFile, "OMNIQ_TLS_KEY=" + keyFile}, "--store", pebbleStore(t))
	if !strings.Contains(srv.log(), `"tls":true`) || !strings.Contains(srv.log(), `"url":"https://`) {
		t.Errorf("the listening line does not say HTTPS:\n%s", srv.log())
	}
	ctx := context.Background()

	// The client, trusting the certificate, works as over HTTP.
	q := newTestClient(t, srv.url, client.WithTLSConfig(&tls.Config{RootCAs: pool}))
	task := &engine.Task{Func: "add", Args: []any{1, 2}}
	if err := q.Enqueue(ctx, task); err != nil {
		t.Fatal(err)
	}
	leased, err := q.Dequeue(ctx, "")
	if err != nil || leased == nil || leased.ID != task.ID {
		t.Fatalf("dequeue over HTTPS: %v %+v", err, leased)
	}
	if err := q.Complete(ctx, leased, int64(3)); err != nil {
		t.Fatal(err)
	}
	// WithTLSConfig also applies to a client given by WithHTTPClient.
	own := newTestClient(t, srv.url, client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}), client.WithTLSConfig(&tls.Config{RootCAs: pool}))
	if _, err := own.Stats(ctx); err != nil {
		t.Fatalf("WithHTTPClient + WithTLSConfig: %v", err)
	}

	// A client that does not trust the certificate fails the handshake and
	// sends nothing.
	untrusting := newTestClient(t, srv.url)
	var unknown x509.UnknownAuthorityError
	if err := untrusting.Enqueue(ctx, &engine.Task{Func: "f"}); !errors.As(err, &unknown) {
		t.Fatalf("client without the CA: %v, want an unknown-authority error", err)
	}
	// Plain HTTP to the HTTPS port is refused.
	resp, err := http.Get("http://" + strings.TrimPrefix(srv.url, "https://") + "/v1/stats")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP to the HTTPS port: %d", resp.StatusCode)
		}
	}
	if st, err := q.Stats(ctx); err != nil || st.Queues["default"][engine.StateCompleted] != 1 {
		t.Fatalf("stats %+v %v: the untrusting client's enqueue must not have arrived", st, err)
	}
}

func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	otherCert, _, _ := selfSigned(t, t.TempDir())
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"cert without key", certFile, "", "go together"},
		{"key without cert", "", keyFile, "go together"},
		{"missing file", filepath.Join(dir, "nope.pem"), keyFile, "no such file"},
		{"key of another cert", otherCert, keyFile, "does not match"},
		{"not PEM", keyFile, certFile, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := startDaemon(context.Background(), serveConfig{Listen: "127.0.0.1:0", TLSCert: tc.cert, TLSKey: tc.key}, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// The store's password and the token reach neither the log (at debug level,
// through startup, requests, refusals and shutdown) nor /metrics; nor the
// error of a daemon that cannot reach its store.
func TestE2ESecretsStayOutOfLogsAndMetrics(t *testing.T) {
	base := os.Getenv("OMNIQ_TEST_POSTGRES")
	if base == "" {
		t.Skip("OMNIQ_TEST_POSTGRES is not set (e.g. postgres://root@127.0.0.1:5432/test)")
	}
	const password, token = "pw-SECRET-3f9c1e", "tok-SECRET-8d2e77"
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	logName := fmt.Sprintf("secrets_%d", time.Now().UnixNano())
	inUser := *u
	inUser.User = url.UserPassword(u.User.Username(), password)
	inUser.RawQuery = "log=" + logName
	inQuery := *u
	inQuery.RawQuery = "log=" + logName + "&password=" + password
	t.Cleanup(func() {
		if log, err := storeurl.Open(context.Background(), "postgres://"+u.Host+u.Path+"?log="+logName); err == nil {
			if d, ok := log.(stores.Dropper); ok {
				_ = d.Drop(context.Background())
			}
			_ = log.Close()
		}
	})
	// Both forms of the DSN must actually reach the server (trust or
	// password auth alike), or the test would prove nothing.
	for name, dsn := range map[string]string{"password in userinfo": inUser.String(), "password in query": inQuery.String()} {
		t.Run(name, func(t *testing.T) {
			srv := startOmniqd(t, []string{"OMNIQ_TOKEN=" + token, "OMNIQ_STORE=" + dsn}, "--log-level", "debug")
			ctx := context.Background()
			q := srv.client(t, client.WithToken(token))
			if err := q.Enqueue(ctx, &engine.Task{Func: "f"}); err != nil {
				t.Fatal(err)
			}
			if task, err := q.Dequeue(ctx, ""); err != nil || task == nil {
				t.Fatal(task, err)
			} else if err := q.Complete(ctx, task, "ok"); err != nil {
				t.Fatal(err)
			}
			_, _ = q.GetTask(ctx, "missing")
			_ = newTestClient(t, srv.url, client.WithToken("wrong-token")).Enqueue(ctx, &engine.Task{Func: "f"})

			req, _ := http.NewRequest("GET", srv.url+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "omniq_events_appended_total") {
				t.Fatalf("/metrics: %d\n%s", resp.StatusCode, metrics)
			}
			_ = srv.cmd.Process.Signal(os.Interrupt)
			if code := srv.waitExit(30 * time.Second); code != 0 {
				t.Fatalf("exit %d\n%s", code, srv.log())
			}
			logs := srv.log()
			if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, "xxxxx") {
				t.Fatalf("the debug log lacks request lines or the redacted store:\n%s", logs)
			}
			for what, text := range map[string]string{"log": logs, "/metrics": string(metrics)} {
				for _, secret := range []string{password, token} {
					if strings.Contains(text, secret) {
						t.Errorf("%s shows %q", what, secret)
					}
				}
			}
		})
	}

	t.Run("store unreachable", func(t *testing.T) {
		down := fmt.Sprintf("postgres://%s:%s@127.0.0.1:1/test?connect_timeout=2", u.User.Username(), password)
		c := startOmniqdProcess(t, []string{"OMNIQ_TOKEN=" + token}, "serve", "--listen", "127.0.0.1:0", "--store", down, "--log-level", "debug")
		if code := c.waitExit(60 * time.Second); code == 0 {
			t.Fatalf("exit 0 with an unreachable store\n%s", c.log())
		}
		if strings.Contains(c.log(), password) || strings.Contains(c.log(), token) {
			t.Fatalf("a secret shows in the failure:\n%s", c.log())
		}
	})
}

func TestRedactSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://root:hunter2@db:5432/q?log=x":             "postgres://root:xxxxx@db:5432/q?log=x",
		"postgres://root@db/q?password=hunter2&sslmode=off":   "postgres://root@db/q?password=xxxxx&sslmode=off",
		"postgres://db/q?sslmode=off&PassWord=hunter2":        "postgres://db/q?sslmode=off&PassWord=xxxxx",
		"redis://:hunter2@cache:6379/0":                       "redis://:xxxxx@cache:6379/0",
		"nats://u:hunter2@a:4222,nats://v:hunter3@b:4222":     "nats://u:xxxxx@a:4222,nats://v:xxxxx@b:4222",
		"nats://u:hun@ter2@a:4222":                            "nats://u:xxxxx@a:4222",
		"pebble:///var/lib/omniq":                             "pebble:///var/lib/omniq",
		"postgres://root@db/q":                                "postgres://root@db/q",
		"postgres://root:p%40ss@db/q?sslpassword=k&token=t#f": "postgres://root:xxxxx@db/q?sslpassword=xxxxx&token=xxxxx#f",
	} {
		if got := storeurl.Redact(in); got != want {
			t.Errorf("storeurl.Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
