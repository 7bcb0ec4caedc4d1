package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// daemon is an omniqd serving a fresh Pebble store in a process of its own,
// for the remote rows: the daemon and the bench share the machine, as a
// daemon and its workers would.
type daemon struct {
	url string
	cmd *exec.Cmd
	dir string
}

// startDaemon builds omniqd from this checkout and starts it on a free
// loopback port, on a Pebble store in a temporary directory, and waits
// until it answers /readyz.
func startDaemon(ctx context.Context) (*daemon, error) {
	dir, err := os.MkdirTemp("", "omniq-peers-remote-")
	if err != nil {
		return nil, err
	}
	d := &daemon{dir: dir}
	// Built in the main module (this module's replace points at it), whose
	// go.sum has the daemon's own dependencies.
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/omniq/omniq").Output()
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("find the omniq module: %w", err)
	}
	bin := filepath.Join(dir, "omniqd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/omniqd")
	build.Dir = strings.TrimSpace(string(root))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		d.stop()
		return nil, fmt.Errorf("build omniqd: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.stop()
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	d.url = "http://" + addr
	d.cmd = exec.Command(bin, "serve", "--store", "pebble://"+filepath.Join(dir, "store"), "--listen", addr)
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		d.stop()
		return nil, fmt.Errorf("start omniqd: %w", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(d.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, errors.New("omniqd did not become ready within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the daemon and removes its store.
func (d *daemon) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(d.dir)
}
