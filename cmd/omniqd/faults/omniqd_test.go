package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/stores/storetest"
)

// buildOmniqd builds the omniqd binary into dir.
func buildOmniqd(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "omniqd")
	out, err := exec.Command("go", "build", "-o", path, "github.com/omniq/omniq/cmd/omniqd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build omniqd: %v\n%s", err, out)
	}
	return path
}

// omniqdEnv is the environment without the caller's OMNIQ_* settings.
func omniqdEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OMNIQ_") {
			out = append(out, kv)
		}
	}
	return out
}

// daemon is "omniqd serve" on one store and one fixed loopback port, so
// that clients reach every incarnation at the same URL. One process runs at
// a time; its stderr (JSON log lines) goes to a file kept for diagnosis.
type daemon struct {
	t       *testing.T
	bin     string
	store   string
	addr    string
	args    []string
	logPath string

	mu  sync.Mutex
	cur *process
}

// process is one incarnation of omniqd.
type process struct {
	cmd    *exec.Cmd
	ready  chan uint64   // the position replayed, from the "ready" log line
	exited chan struct{} // closed once the process has exited
	err    error         // Wait's result, once exited
}

func newDaemon(t *testing.T, bin, store string, leaseTimeout time.Duration) *daemon {
	d := &daemon{
		t: t, bin: bin, store: store,
		addr:    fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t)),
		args:    []string{"--lease-timeout", leaseTimeout.String(), "--max-wait", "5s", "--shutdown-timeout", "20s"},
		logPath: filepath.Join(t.TempDir(), "omniqd.log"),
	}
	t.Cleanup(func() {
		d.mu.Lock()
		p := d.cur
		d.mu.Unlock()
		if p != nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return d
}

func (d *daemon) url() string { return "http://" + d.addr }

// start starts a new incarnation; the previous one must have exited.
func (d *daemon) start() (*process, error) {
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--store", d.store, "--listen", d.addr, "--log-format", "json"}, d.args...)
	cmd := exec.Command(d.bin, args...)
	cmd.Env = omniqdEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	p := &process{cmd: cmd, ready: make(chan uint64, 1), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	fmt.Fprintf(logFile, "### omniqd pid %d started at %s\n", cmd.Process.Pid, time.Now().Format(time.RFC3339Nano))
	d.mu.Lock()
	d.cur = p
	d.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logFile.Write(append(line, '\n'))
			var rec struct {
				Msg      string  `json:"msg"`
				Position *uint64 `json:"position"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "ready" && rec.Position != nil {
				select {
				case p.ready <- *rec.Position:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		fmt.Fprintf(logFile, "### omniqd pid %d exited: %v\n", cmd.Process.Pid, p.err)
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitReady waits for p to have replayed the log and to serve; it returns
// the position it replayed to.
func (d *daemon) waitReady(p *process, timeout time.Duration) (uint64, error) {
	select {
	case pos := <-p.ready:
		return pos, nil
	case <-p.exited:
		return 0, fmt.Errorf("omniqd exited before it was ready: %v\n%s", p.err, d.logTail(40))
	case <-time.After(timeout):
		return 0, fmt.Errorf("omniqd was not ready within %v\n%s", timeout, d.logTail(40))
	}
}

// kill9 ends the running incarnation with SIGKILL: no shutdown, no snapshot.
func (d *daemon) kill9() {
	d.mu.Lock()
	p := d.cur
	d.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// signal sends sig to the running incarnation (SIGSTOP, SIGCONT).
func (d *daemon) signal(sig syscall.Signal) error {
	d.mu.Lock()
	p := d.cur
	d.mu.Unlock()
	if p == nil {
		return errors.New("omniqd is not running")
	}
	return p.cmd.Process.Signal(sig)
}

// stop sends SIGTERM and returns the exit code (-1 when it had to be killed).
func (d *daemon) stop(timeout time.Duration) (int, error) {
	d.mu.Lock()
	p := d.cur
	d.mu.Unlock()
	if p == nil {
		return -1, errors.New("omniqd is not running")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return -1, fmt.Errorf("omniqd did not exit within %v of SIGTERM", timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, p.err
}

// logTail returns the last n lines omniqd wrote.
func (d *daemon) logTail(n int) string {
	b, _ := os.ReadFile(d.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// verify runs `omniqd verify --store URL --json` (and more flags: --strict,
// --archive DIR) and returns its exit code and report.
func verify(ctx context.Context, bin, store string, more ...string) (int, *audit.Report, string, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"verify", "--store", store, "--json"}, more...)...)
	cmd.Env = omniqdEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return -1, nil, stderr.String(), err
	}
	var rep audit.Report
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		return code, nil, stderr.String() + string(out), nil
	}
	return code, &rep, stderr.String(), nil
}

// server is a private redis-server or nats-server the harness may kill -9
// and restart: its own port, its own data directory.
type server struct {
	t       *testing.T
	name    string
	port    int
	dir     string
	argv    func(port int, dir string) []string
	logPath string

	mu  sync.Mutex
	cmd *exec.Cmd
	end chan struct{}
}

func newServer(t *testing.T, name string, argv func(port int, dir string) []string) *server {
	dir := t.TempDir()
	s := &server{t: t, name: name, port: storetest.FreePort(t), dir: dir, argv: argv, logPath: filepath.Join(dir, name+".log")}
	t.Cleanup(s.kill9)
	return s
}

func redisServer(t *testing.T) *server {
	return newServer(t, "redis-server", func(port int, dir string) []string {
		return []string{"redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
			"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", filepath.Join(dir, "redis-server.log")}
	})
}

func natsServer(t *testing.T) *server {
	return newServer(t, "nats-server", func(port int, dir string) []string {
		return []string{"nats-server", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", filepath.Join(dir, "js"),
			"-l", filepath.Join(dir, "nats-server.log")}
	})
}

// start starts the server and waits until its port accepts connections.
func (s *server) start() error {
	argv := s.argv(s.port, s.dir)
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	end := make(chan struct{})
	go func() { _ = cmd.Wait(); close(end) }()
	s.mu.Lock()
	s.cmd, s.end = cmd, end
	s.mu.Unlock()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-end:
			return fmt.Errorf("%s exited at start (see %s)", s.name, s.logPath)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s did not accept connections within 20s", s.name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 kills the server with SIGKILL and waits for it to exit.
func (s *server) kill9() {
	s.mu.Lock()
	cmd, end := s.cmd, s.end
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-end
}
