package main

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omniq/omniq/engine"
)

func TestMemoryLimitFlag(t *testing.T) {
	for _, tc := range []struct {
		in      string
		bytes   int64
		percent float64
		off     bool
		err     string // a part of the error; "" for none
	}{
		{in: "512MiB", bytes: 512 << 20},
		{in: "2GiB", bytes: 2 << 30},
		{in: "1TiB", bytes: 1 << 40},
		{in: "4096KiB", bytes: 4 << 20},
		{in: "1500000000", bytes: 1500000000},
		{in: "1500000000B", bytes: 1500000000},
		{in: " 2GiB ", bytes: 2 << 30},
		{in: "90%", percent: 90},
		{in: "12.5%", percent: 12.5},
		{in: "100%", percent: 100},
		{in: "off", off: true},
		{in: "0", off: true},
		{in: "", err: "want a size"},
		{in: "lots", err: "want a size (512MiB"},
		{in: "2GB", err: "want a size"},         // GiB, not GB
		{in: "2 gib", err: "want a size"},       // units are case-sensitive, as in GOMEMLIMIT
		{in: "1.5GiB", err: "want a size"},      // whole numbers
		{in: "-1GiB", err: "want a size"},       // negative
		{in: "512", err: "below 1MiB"},          // 512 bytes: surely MiB was meant
		{in: "99999999TiB", err: "want a size"}, // overflows int64
		{in: "0%", err: "above 0%"},
		{in: "101%", err: "at most 100%"},
		{in: "-5%", err: "above 0%"},
		{in: "NaN%", err: "above 0%"},
		{in: "x%", err: "above 0%"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var f memLimitFlag
			err := f.Set(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Set(%q) = %v, want an error saying %q", tc.in, err, tc.err)
				}
				if !strings.Contains(err.Error(), "off") || !strings.Contains(err.Error(), "90%") {
					t.Errorf("error %q does not say what is accepted", err)
				}
				if f.given {
					t.Errorf("a refused value was kept: %+v", f)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set(%q): %v", tc.in, err)
			}
			if !f.given || f.bytes != tc.bytes || f.percent != tc.percent || f.off != tc.off {
				t.Fatalf("Set(%q) = %+v", tc.in, f)
			}
		})
	}
}

// The flag's error names it, and so does its environment variable's.
func TestMemoryLimitFlagErrorNamesTheFlag(t *testing.T) {
	for name, tc := range map[string]struct {
		env  string
		args []string
		want string
	}{
		"flag": {"", []string{"--memory-limit", "2GB"}, "-memory-limit"},
		"env":  {"lots", nil, "OMNIQ_MEMORY_LIMIT"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OMNIQ_MEMORY_LIMIT", tc.env)
			var f memLimitFlag
			fs := newFlagSet("serve")
			fs.Var(&f, "memory-limit", "")
			_, err := parseArgs(fs, tc.args, argSpec{env: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "512MiB") {
				t.Fatalf("err = %v, want it to name %s and say what is accepted", err, tc.want)
			}
		})
	}
}

// newFlagSetForTest is a flag set that prints nothing.
func TestChooseMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	given := func(s string) memLimitFlag {
		var f memLimitFlag
		if err := f.Set(s); err != nil {
			t.Fatal(err)
		}
		return f
	}
	cg := func(n int64) func() (cgroupLimit, error) {
		return func() (cgroupLimit, error) {
			if n == 0 {
				return cgroupLimit{}, nil
			}
			return cgroupLimit{bytes: n, file: "/sys/fs/cgroup/memory.max", version: 2}, nil
		}
	}
	cgErr := func() (cgroupLimit, error) { return cgroupLimit{}, errors.New("permission denied") }
	notRead := func() (cgroupLimit, error) {
		t.Error("the cgroup limit was read, though not needed")
		return cgroupLimit{}, nil
	}
	none := int64(math.MaxInt64)
	for _, tc := range []struct {
		name       string
		flag       memLimitFlag
		gomemlimit string
		current    int64 // what the runtime has (GOMEMLIMIT's value, or none)
		cgroup     func() (cgroupLimit, error)
		limit      int64
		source     string
		apply      bool
		warning    string
		err        string
	}{
		{name: "size", flag: given("512MiB"), current: none, cgroup: notRead, limit: 512 << 20, source: "--memory-limit", apply: true},
		{name: "size over GOMEMLIMIT", flag: given("3GiB"), gomemlimit: "1GiB", current: gib, cgroup: notRead, limit: 3 * gib, source: "--memory-limit", apply: true},
		{name: "off over GOMEMLIMIT", flag: given("off"), gomemlimit: "1GiB", current: gib, cgroup: notRead, limit: 0, source: "--memory-limit", apply: true},
		{name: "0", flag: given("0"), current: none, cgroup: notRead, limit: 0, source: "--memory-limit", apply: true},
		{name: "percent of the cgroup", flag: given("50%"), current: none, cgroup: cg(2 * gib), limit: gib, source: "--memory-limit", apply: true},
		{name: "percent rounds down", flag: given("33%"), current: none, cgroup: cg(1000), limit: 330, source: "--memory-limit", apply: true},
		{name: "percent without a cgroup limit", flag: given("50%"), current: none, cgroup: cg(0), limit: 0, source: "default", warning: "no cgroup memory limit"},
		{name: "percent without a cgroup limit keeps GOMEMLIMIT", flag: given("50%"), gomemlimit: "1GiB", current: gib, cgroup: cg(0), limit: gib, source: "GOMEMLIMIT", warning: "no cgroup memory limit"},
		{name: "percent, cgroup unreadable", flag: given("50%"), current: none, cgroup: cgErr, err: "--memory-limit 50%"},
		{name: "GOMEMLIMIT is left alone", gomemlimit: "1GiB", current: gib, cgroup: notRead, limit: gib, source: "GOMEMLIMIT"},
		{name: "GOMEMLIMIT=off", gomemlimit: "off", current: none, cgroup: notRead, limit: 0, source: "GOMEMLIMIT"},
		{name: "90% of the cgroup", current: none, cgroup: cg(1000 << 20), limit: 900 << 20, source: "cgroup", apply: true},
		{name: "no cgroup limit", current: none, cgroup: cg(0), limit: 0, source: "default"},
		{name: "cgroup unreadable", current: none, cgroup: cgErr, limit: 0, source: "default", warning: "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chooseMemoryLimit(tc.flag, tc.gomemlimit, tc.current, tc.cgroup)
			if wantedError(t, err, tc.err) {
				return
			}
			if c.limit != tc.limit || c.source != tc.source || c.apply != tc.apply {
				t.Errorf("got limit %d from %q (apply %v), want %d from %q (apply %v)", c.limit, c.source, c.apply, tc.limit, tc.source, tc.apply)
			}
			if (tc.warning == "") != (c.warning == "") || !strings.Contains(c.warning, tc.warning) {
				t.Errorf("warning %q, want %q", c.warning, tc.warning)
			}
		})
	}
}

// writeFiles writes path -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wantedError fails t unless err is what a case wants: an error saying want,
// or none when want is "". It reports whether the case wanted an error (and
// so ends there).
func wantedError(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	return true
}

func TestCgroupMemoryLimit(t *testing.T) {
	const v1Max = "9223372036854771712\n" // what cgroup v1 writes for no limit
	for _, tc := range []struct {
		name    string
		files   map[string]string // under the test's directory; proc/self/cgroup and cg/...
		bytes   int64
		file    string // where it was read, under cg/
		version int
		err     string
	}{
		{name: "v2 in a namespace", files: map[string]string{
			"proc/self/cgroup": "0::/\n", "cg/memory.max": "2147483648\n"},
			bytes: 2 << 30, file: "memory.max", version: 2},
		{name: "v2 max", files: map[string]string{
			"proc/self/cgroup": "0::/\n", "cg/memory.max": "max\n"}},
		{name: "v2 nested, limited above", files: map[string]string{
			"proc/self/cgroup":                         "0::/system.slice/omniq.service\n",
			"cg/system.slice/omniq.service/memory.max": "max\n",
			"cg/system.slice/memory.max":               "1073741824\n"},
			bytes: 1 << 30, file: "system.slice/memory.max", version: 2},
		{name: "v2 nested, smallest wins", files: map[string]string{
			"proc/self/cgroup":                         "0::/system.slice/omniq.service\n",
			"cg/system.slice/omniq.service/memory.max": "536870912\n",
			"cg/system.slice/memory.max":               "1073741824\n"},
			bytes: 512 << 20, file: "system.slice/omniq.service/memory.max", version: 2},
		{name: "v2 path not in the mount", files: map[string]string{
			"proc/self/cgroup": "0::/kubepods/pod1/c1\n", "cg/memory.max": "268435456\n"},
			bytes: 256 << 20, file: "memory.max", version: 2},
		{name: "v2 path outside the namespace", files: map[string]string{
			"proc/self/cgroup": "0::/../x\n", "memory.max": "1048576\n", "x/memory.max": "1048576\n"}}, // never read beyond cg/
		{name: "v2 no file", files: map[string]string{"proc/self/cgroup": "0::/\n"}},
		{name: "v2 garbage", files: map[string]string{
			"proc/self/cgroup": "0::/\n", "cg/memory.max": "lots\n"},
			err: "memory.max"},
		{name: "v1", files: map[string]string{
			"proc/self/cgroup": "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n",
			"cg/memory/process_api/abc/memory.limit_in_bytes": "536870912\n",
			"cg/memory/memory.limit_in_bytes":                 v1Max},
			bytes: 512 << 20, file: "memory/process_api/abc/memory.limit_in_bytes", version: 1},
		{name: "v1 in a namespace", files: map[string]string{
			"proc/self/cgroup":                "5:cpu,memory:/\n",
			"cg/memory/memory.limit_in_bytes": "1073741824\n"},
			bytes: 1 << 30, file: "memory/memory.limit_in_bytes", version: 1},
		{name: "v1 unlimited", files: map[string]string{
			"proc/self/cgroup":                "4:memory:/\n",
			"cg/memory/memory.limit_in_bytes": v1Max}},
		{name: "v1 before v2 on a hybrid host", files: map[string]string{
			"proc/self/cgroup":                "4:memory:/\n0::/\n",
			"cg/memory/memory.limit_in_bytes": v1Max,
			"cg/memory.max":                   "1073741824\n"}},
		{name: "no proc file, v2", files: map[string]string{"cg/memory.max": "1073741824\n"},
			bytes: 1 << 30, file: "memory.max", version: 2},
		{name: "no proc file, v1", files: map[string]string{"cg/memory/memory.limit_in_bytes": "1073741824\n"},
			bytes: 1 << 30, file: "memory/memory.limit_in_bytes", version: 1},
		{name: "nothing at all", files: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			c := cgroupFiles{procSelf: filepath.Join(dir, "proc/self/cgroup"), root: filepath.Join(dir, "cg")}
			got, err := c.memoryLimit()
			if wantedError(t, err, tc.err) {
				return
			}
			want := cgroupLimit{bytes: tc.bytes, version: tc.version}
			if tc.file != "" {
				want.file = filepath.Join(c.root, filepath.FromSlash(tc.file))
			}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestFormatMemSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 512: "512B", 2 << 30: "2GiB", 966367641: "921.6MiB", 1 << 40: "1TiB"} {
		if got := formatMemSize(n); got != want {
			t.Errorf("formatMemSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// scrapeValue returns the value of one series ("name" or `name{l="v"}`)
// in a /metrics body, failing the test when it is missing.
func scrapeValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s", series)
	return 0
}

// setMemoryLimitForTest sets the process's soft limit for the test (a
// large one, so it does not make the collector work) and restores it after.
func setMemoryLimitForTest(t *testing.T, limit int64) {
	old := debug.SetMemoryLimit(limit)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
}

func TestMetricsMemoryAndResidency(t *testing.T) {
	store := "pebble://" + t.TempDir()
	td := newTestDaemon(t, serveConfig{Store: store, SnapshotEvery: engine.DefaultSnapshotEvery})
	for i := range 3 {
		td.enqueue(fmt.Sprintf(`{"id":"t%d","func":"f"}`, i))
	}
	setMemoryLimitForTest(t, 64<<30)
	m := td.call("GET", "/metrics", "")
	td.want(m, http.StatusOK, nil)
	body := m.Body.String()
	if hot, cold := scrapeValue(t, body, `omniq_tasks_resident{form="hot"}`), scrapeValue(t, body, `omniq_tasks_resident{form="cold"}`); hot != 3 || cold != 0 {
		t.Errorf("resident hot %v, cold %v; want 3 and 0", hot, cold)
	}
	if heap := scrapeValue(t, body, "omniq_heap_inuse_bytes"); heap < 64<<10 || heap > 64<<30 {
		t.Errorf("omniq_heap_inuse_bytes %v", heap)
	}
	if limit := scrapeValue(t, body, "omniq_memory_limit_bytes"); limit != 64<<30 {
		t.Errorf("omniq_memory_limit_bytes %v, want %d", limit, int64(64<<30))
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if limit := scrapeValue(t, td.call("GET", "/metrics", "").Body.String(), "omniq_memory_limit_bytes"); limit != 0 {
		t.Errorf("with no limit, omniq_memory_limit_bytes %v, want 0", limit)
	}

	// One task ends; after a restart (from the snapshot written at
	// shutdown) it is held as a compact record.
	td.want(td.call("POST", "/v1/queues/default/dequeue", ""), http.StatusOK, nil)
	td.want(td.call("POST", "/v1/tasks/t0/complete", `{"attempt":1}`), http.StatusOK, nil)
	if err := td.shutdown(); err != nil {
		t.Fatal(err)
	}
	td = newTestDaemon(t, serveConfig{Store: store, SnapshotEvery: engine.DefaultSnapshotEvery})
	body = td.call("GET", "/metrics", "").Body.String()
	if hot, cold := scrapeValue(t, body, `omniq_tasks_resident{form="hot"}`), scrapeValue(t, body, `omniq_tasks_resident{form="cold"}`); hot != 2 || cold != 1 {
		t.Errorf("after a restart, resident hot %v, cold %v; want 2 and 1", hot, cold)
	}
}

// The daemon sets the limit its flag or GOMEMLIMIT says, logs where it
// came from, and does not start on a bad value.
func TestE2EMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		limit  float64
		source string
	}{
		{"flag", nil, []string{"--memory-limit", "300MiB"}, 300 << 20, "--memory-limit"},
		{"env", []string{"OMNIQ_MEMORY_LIMIT=1500000000"}, nil, 1500000000, "--memory-limit"},
		{"GOMEMLIMIT", []string{"GOMEMLIMIT=200MiB"}, nil, 200 << 20, "GOMEMLIMIT"},
		{"flag over GOMEMLIMIT", []string{"GOMEMLIMIT=200MiB"}, []string{"--memory-limit", "off"}, 0, "--memory-limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startOmniqd(t, tc.env, append([]string{"--store", "memory://"}, tc.args...)...)
			got, err := strconv.ParseFloat(metricValue(t, srv.url, "omniq_memory_limit_bytes"), 64)
			if err != nil || got != tc.limit {
				t.Errorf("omniq_memory_limit_bytes %v (%v), want %v", got, err, tc.limit)
			}
			if want := fmt.Sprintf(`"msg":"memory limit","limit":%q,"bytes":%d,"source":%q`, limitText(int64(tc.limit)), int64(tc.limit), tc.source); !strings.Contains(srv.log(), want) {
				t.Errorf("log lacks %s:\n%s", want, srv.log())
			}
		})
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bad flag", nil, []string{"--memory-limit", "2GB"}, `invalid value "2GB" for flag --memory-limit`},
		{"bad env", []string{"OMNIQ_MEMORY_LIMIT=lots"}, nil, `invalid value "lots" for OMNIQ_MEMORY_LIMIT (flag --memory-limit)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startOmniqdProcess(t, tc.env, append([]string{"serve", "--store", "memory://", "--listen", "127.0.0.1:0"}, tc.args...)...)
			if code := c.waitExit(20 * time.Second); code != exitUsage {
				t.Fatalf("exited %d, want %d\n%s", code, exitUsage, c.log())
			}
			if log := c.log(); !strings.Contains(log, tc.want) || !strings.Contains(log, "512MiB") || strings.Contains(log, `"msg":"listening"`) {
				t.Errorf("stderr does not say what is wrong and what is accepted, or it started:\n%s", log)
			}
		})
	}
}

// limitText is the log's "limit" of n bytes.
func limitText(n int64) string {
	if n == 0 {
		return "none"
	}
	return formatMemSize(n)
}
