package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// The daemon's Go soft memory limit (runtime/debug.SetMemoryLimit): the
// garbage collector works harder as the memory the runtime holds nears it,
// so a daemon in a container collects its garbage before the kernel's OOM
// killer would end it. Unless
// told otherwise (--memory-limit), it is GOMEMLIMIT when that is set, or
// else defaultMemoryPercent of the cgroup's memory limit, or else none.

// defaultMemoryPercent is the share of the cgroup's memory limit the
// daemon's soft limit is by default: the rest is headroom for memory the
// cgroup is charged for and the Go runtime does not count (C allocations,
// the kernel's memory for the process, page cache).
const defaultMemoryPercent = 90

// minMemoryLimit is the smallest size --memory-limit takes: less is surely
// a size without its unit ("512" meaning 512MiB), and would keep the
// collector running all the time.
const minMemoryLimit = 1 << 20

// memLimitFlag is the value of --memory-limit: a size, a percentage of the
// cgroup's memory limit, or off. Its zero value is "not given".
type memLimitFlag struct {
	given   bool
	off     bool
	bytes   int64   // a size, when > 0
	percent float64 // of the cgroup limit, in (0, 100], when > 0
	text    string
}

const memLimitWant = "want a size (512MiB, 2GiB or 1500000000 bytes; units B, KiB, MiB, GiB, TiB), " +
	"a percentage of the cgroup memory limit (90%), or off (0)"

func (m *memLimitFlag) String() string {
	if m == nil || !m.given {
		return ""
	}
	return m.text
}

func (m *memLimitFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	v := memLimitFlag{given: true, text: s}
	switch {
	case s == "off" || s == "0":
		v.off = true
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || math.IsNaN(p) || p <= 0 || p > 100 {
			return fmt.Errorf("a percentage must be above 0%% and at most 100%%; %s", memLimitWant)
		}
		v.percent = p
	default:
		n, err := parseMemSize(s)
		if err != nil {
			return errors.New(memLimitWant)
		}
		if n < minMemoryLimit {
			return fmt.Errorf("%d bytes is below 1MiB (a size without its unit?); %s", n, memLimitWant)
		}
		v.bytes = n
	}
	*m = v
	return nil
}

// memUnits are the units of a size, as GOMEMLIMIT spells them.
var memUnits = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseMemSize reads a whole number of bytes, optionally with a unit.
func parseMemSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range memUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("not a size")
	}
	return n * mult, nil
}

// formatMemSize writes n bytes with the largest unit it reaches: "2GiB",
// "921.6MiB".
func formatMemSize(n int64) string {
	for _, u := range memUnits {
		if n >= u.mult {
			if n%u.mult == 0 {
				return strconv.FormatInt(n/u.mult, 10) + u.suffix
			}
			return strconv.FormatFloat(float64(n)/float64(u.mult), 'f', 1, 64) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// cgroupLimit is the memory limit of the process's cgroup.
type cgroupLimit struct {
	bytes   int64  // 0: no limit
	file    string // the file it was read from
	version int    // 1 or 2
}

// cgroupFiles says where the cgroup files are; tests point it at fixtures.
type cgroupFiles struct {
	procSelf string // the process's cgroups: /proc/self/cgroup
	root     string // the cgroup mount: /sys/fs/cgroup
}

var systemCgroup = cgroupFiles{procSelf: "/proc/self/cgroup", root: "/sys/fs/cgroup"}

// v1Unlimited: cgroup v1 writes "no limit" as a huge number
// (9223372036854771712, the largest page count in bytes); anything from
// here up is no limit.
const v1Unlimited = 1 << 62

// memoryLimit returns the memory limit of the process's cgroup: the
// smallest limit of its cgroup and of the cgroups above it, as the kernel
// enforces them all. cgroup v1's memory controller, when it has one (a
// hybrid host mounts both), or else cgroup v2's. A missing file is no
// limit; an unreadable one is an error.
func (c cgroupFiles) memoryLimit() (cgroupLimit, error) {
	v1, v2, found, err := c.selfCgroups()
	if err != nil {
		return cgroupLimit{}, err
	}
	switch {
	case !found: // no /proc/self/cgroup: look at the top of the mount
		lim, err := c.walk(2, "/", "", "memory.max")
		if lim.bytes > 0 || err != nil {
			return lim, err
		}
		return c.walk(1, "/", "memory", "memory.limit_in_bytes")
	case v1 != "":
		return c.walk(1, v1, "memory", "memory.limit_in_bytes")
	case v2 != "":
		return c.walk(2, v2, "", "memory.max")
	}
	return cgroupLimit{}, nil
}

// selfCgroups reads the process's cgroup paths: in the v1 hierarchy that
// has the memory controller, and in the v2 one. found is false when there
// is no such file (not Linux).
func (c cgroupFiles) selfCgroups() (v1, v2 string, found bool, err error) {
	f, err := os.Open(c.procSelf)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		id, rest, ok1 := strings.Cut(sc.Text(), ":")
		controllers, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			continue
		}
		if id == "0" && controllers == "" {
			v2 = p
			continue
		}
		for _, ctl := range strings.Split(controllers, ",") {
			if ctl == "memory" {
				v1 = p
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", false, fmt.Errorf("%s: %w", c.procSelf, err)
	}
	return v1, v2, true, nil
}

// walk reads name in the cgroup at p under root/sub and in each cgroup
// above it, and returns the smallest limit. A path outside the mount (a
// cgroup namespace shows "/.." for it) is read from the top of the mount.
func (c cgroupFiles) walk(version int, p, sub, name string) (cgroupLimit, error) {
	var best cgroupLimit
	for dir := path.Clean("/" + p); ; dir = path.Dir(dir) {
		file := filepath.Join(c.root, sub, filepath.FromSlash(dir), name)
		b, err := os.ReadFile(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return cgroupLimit{}, err
		default:
			n, err := parseCgroupLimit(string(b))
			if err != nil {
				return cgroupLimit{}, fmt.Errorf("%s: %w", file, err)
			}
			if n > 0 && (best.bytes == 0 || n < best.bytes) {
				best = cgroupLimit{bytes: n, file: file, version: version}
			}
		}
		if dir == "/" {
			return best, nil
		}
	}
}

// parseCgroupLimit reads memory.max or memory.limit_in_bytes: "max" or a
// huge number is no limit (0).
func parseCgroupLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a memory limit", s)
	}
	if n >= v1Unlimited {
		return 0, nil
	}
	return int64(n), nil
}

// memLimitChoice is the soft memory limit the daemon runs with, and why.
type memLimitChoice struct {
	limit   int64  // bytes; 0: none
	source  string // "--memory-limit", "GOMEMLIMIT", "cgroup" or "default"
	apply   bool   // set it; false leaves the runtime's own (GOMEMLIMIT, or none)
	percent float64
	cgroup  cgroupLimit // what percent was taken of
	warning string      // why a percentage was not applied
}

// chooseMemoryLimit decides the limit from the flag, the GOMEMLIMIT
// environment variable, the runtime's current limit (which reflects
// GOMEMLIMIT) and the cgroup's limit, read only when needed.
func chooseMemoryLimit(f memLimitFlag, gomemlimit string, current int64, cgroup func() (cgroupLimit, error)) (memLimitChoice, error) {
	runtimeLimit := func(source string) memLimitChoice {
		c := memLimitChoice{source: source}
		if current != math.MaxInt64 {
			c.limit = current
		}
		return c
	}
	switch {
	case f.given && f.off:
		return memLimitChoice{source: "--memory-limit", apply: true}, nil
	case f.given && f.bytes > 0:
		return memLimitChoice{limit: f.bytes, source: "--memory-limit", apply: true}, nil
	case f.given: // a percentage
		cg, err := cgroup()
		if err != nil {
			return memLimitChoice{}, fmt.Errorf("--memory-limit %s: reading the cgroup memory limit: %w", f.text, err)
		}
		if cg.bytes == 0 {
			c := runtimeLimit("default")
			if gomemlimit != "" {
				c.source = "GOMEMLIMIT"
			}
			c.warning = fmt.Sprintf("--memory-limit %s: no cgroup memory limit to take a percentage of", f.text)
			return c, nil
		}
		return memLimitChoice{limit: percentOf(cg.bytes, f.percent), source: "--memory-limit", apply: true, percent: f.percent, cgroup: cg}, nil
	case gomemlimit != "":
		return runtimeLimit("GOMEMLIMIT"), nil
	}
	cg, err := cgroup()
	if err != nil {
		c := runtimeLimit("default")
		c.warning = fmt.Sprintf("reading the cgroup memory limit: %v", err)
		return c, nil
	}
	if cg.bytes == 0 {
		return runtimeLimit("default"), nil
	}
	return memLimitChoice{limit: percentOf(cg.bytes, defaultMemoryPercent), source: "cgroup", apply: true, percent: defaultMemoryPercent, cgroup: cg}, nil
}

// percentOf returns p% of n, rounded down.
func percentOf(n int64, p float64) int64 {
	return int64(math.Floor(float64(n) * p / 100))
}

// setMemoryLimit sets the process's soft memory limit as f, the
// environment and the cgroup say, and logs it.
func setMemoryLimit(logger *slog.Logger, f *memLimitFlag) error {
	c, err := chooseMemoryLimit(*f, os.Getenv("GOMEMLIMIT"), debug.SetMemoryLimit(-1), systemCgroup.memoryLimit)
	if err != nil {
		return err
	}
	if c.apply {
		limit := c.limit
		if limit == 0 {
			limit = math.MaxInt64
		}
		debug.SetMemoryLimit(limit)
	}
	if c.warning != "" {
		logger.Warn("memory limit: " + c.warning)
	}
	logger.Info("memory limit", c.attrs()...)
	return nil
}

// attrs are the log attributes of c.
func (c memLimitChoice) attrs() []any {
	limit := "none"
	if c.limit > 0 {
		limit = formatMemSize(c.limit)
	}
	a := []any{"limit", limit, "bytes", c.limit, "source", c.source}
	if c.cgroup.bytes > 0 {
		a = append(a, "percent", c.percent, "cgroup_limit", formatMemSize(c.cgroup.bytes),
			"cgroup_version", c.cgroup.version, "cgroup_file", c.cgroup.file)
	}
	return a
}
