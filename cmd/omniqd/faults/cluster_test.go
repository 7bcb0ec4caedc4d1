package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/projections"
	"github.com/omniq/omniq/stores"
	"github.com/omniq/omniq/stores/storeurl"
)

// clusterStores are the stores whose log several omniqd processes may
// share: the server stores, and SQLite on one host.
var clusterStores = []string{"sqlite", "postgres", "redis", "nats"}

const (
	// clusterCallTimeout bounds one call of a cluster's clients: shorter
	// than most pauses, so that a client stuck on a paused node gives up and
	// moves on, and longer than some, so that others get their answer from
	// the node once it wakes on a stale state.
	clusterCallTimeout = 4 * time.Second
	// liveBound bounds the probe after a kill or a pause: how long the live
	// nodes have to acknowledge an enqueue.
	liveBound = time.Minute
)

// clusterNode is one omniqd of a cluster: a fixed port, incarnations one
// after another.
type clusterNode struct {
	i    int
	d    *daemon
	name string // the engine's node name of the running incarnation (GET /v1/cluster)
}

// clusterFault is one kill or pause of a node as it happened, and the
// failover it measured.
type clusterFault struct {
	Kind  string    `json:"kind"` // "kill" or "pause"
	Node  int       `json:"node"`
	Name  string    `json:"name"` // the engine's node name of the incarnation hit
	Began time.Time `json:"began"`
	Back  time.Time `json:"back"` // when it was continued, or its restart began
	// Live: from Began to the first enqueue a live node acknowledged (the
	// probe); LiveWhileDown: that came before Back.
	Live          time.Duration `json:"live_ns"`
	LiveWhileDown bool          `json:"live_while_down"`
	LiveErr       string        `json:"live_error,omitempty"`
	// LiveTries: the probe's tries that got no answer, before the one
	// that did.
	LiveTries []string `json:"live_tries,omitempty"`
	// The leases the hit incarnation had granted before Began that were
	// still open then and ran out: from each one's deadline to its
	// task.lease_expired (Expiry) and to the task's next task.leased
	// (Relet), and from the retry_at its expiry set (the retry backoff) to
	// that lease (Queued: the wait for a worker).
	Expiry []time.Duration `json:"expiry_ns,omitempty"`
	Relet  []time.Duration `json:"relet_ns,omitempty"`
	Queued []time.Duration `json:"queued_ns,omitempty"`
}

// runCluster is one store's cluster run: -nodes omniqd nodes on one log
// (one store URL, one archive directory), the load spread over them, kills
// and pauses of nodes and faults of the store's server for -duration, a
// drain, the nodes compared, a clean stop, the checks.
func runCluster(t *testing.T, bin string, seed uint64, name string, kills, pauses int) *figures {
	ctx := context.Background()
	n := *flagNodes
	setup := setupStore(t, seed, name)
	serverFaults := 0
	if setup.fault != nil {
		serverFaults = *flagServerFaults
	}
	f := &figures{Store: name, Seed: seed, Duration: flagDuration.String(), ServerFaultKind: setup.faultKind, Checks: map[string]int{}, Nodes: n}
	h := newHistory()
	archiveDir, archiveArgs := archiveFlags(t, clusterRetention())
	nodes := make([]*clusterNode, n)
	urls := make([]string, n)
	for i := range nodes {
		d := newDaemon(t, bin, setup.url, *flagLease)
		d.logPath = filepath.Join(filepath.Dir(d.logPath), fmt.Sprintf("omniqd-node%d.log", i))
		d.args = append(d.args, archiveArgs...)
		nodes[i] = &clusterNode{i: i, d: d}
		urls[i] = d.url()
	}
	var maxReady time.Duration
	start := func(nd *clusterNode) error {
		if err := startReady(ctx, t, nd.d, h, f, setup.fault != nil, &maxReady); err != nil {
			return fmt.Errorf("node %d: %w", nd.i, err)
		}
		nd.name = nodeName(ctx, nd.d)
		return nil
	}
	for _, nd := range nodes {
		if err := start(nd); err != nil {
			t.Fatal(err)
		}
	}
	logTails := func(lines int) string {
		var b strings.Builder
		for _, nd := range nodes {
			fmt.Fprintf(&b, "--- node %d (%s), %s:\n%s\n", nd.i, nd.name, nd.d.logPath, nd.d.logTail(lines))
		}
		return b.String()
	}

	schedule := newClusterSchedule(seed, name, *flagDuration, kills, pauses, serverFaults, *flagLease)
	var plan []string
	for _, x := range schedule {
		plan = append(plan, fmt.Sprintf("%s@%s", x.Kind, x.At.Round(100*time.Millisecond)))
	}
	var names []string
	for _, nd := range nodes {
		names = append(names, fmt.Sprintf("%d=%s (%s)", nd.i, nd.name, nd.d.url()))
	}
	t.Logf("%s: %d nodes on %s: %s; schedule: %s", name, n, setup.url, strings.Join(names, ", "), strings.Join(plan, ", "))

	l := newLoad(t, h, seed, name, urls, *flagLease)
	l.cluster, l.timeout = true, clusterCallTimeout
	run := startLoad(ctx)
	defer run.stop() // on a t.Fatal too: no client may outlive the test
	for p := range n {
		run.producers.Go(func() { l.produce(run.loadCtx, p) })
	}
	run.producers.Go(func() { l.watchBacklog(run.loadCtx, 0) })
	run.producers.Go(func() { l.stall(run.loadCtx, 1) })
	run.producers.Go(func() { l.shape(run.loadCtx, 2) })
	run.producers.Go(func() { l.schedule(run.loadCtx, 0, *flagDuration) })
	for w := range 2 * n {
		run.workers.Go(func() { l.work(run.workCtx, w) })
	}
	for k := range n {
		run.workers.Go(func() { l.keep(run.workCtx, k) })
	}
	prober := l.conn(0)
	defer prober.Close()

	// pick chooses the node a kill or pause hits: with x.Busy one that
	// granted leases workers hold now, when there is one.
	targets := rngFor(seed, name, "targets")
	pick := func(x fault) int {
		if x.Busy {
			var busy []int
			for i := range nodes {
				if l.holding[i].Load() > 0 {
					busy = append(busy, i)
				}
			}
			if len(busy) > 0 {
				return busy[targets.IntN(len(busy))]
			}
		}
		return targets.IntN(n)
	}

	began := time.Now()
	recovered := &checkResult{name: checkRecovered}
	var worst outages // its node outages are not the cluster's: see maxOutage below
	var hits []*clusterFault
	ok := runSchedule(ctx, t, h, schedule, began, recovered, &worst, func(x fault, faultBegan time.Time) (err error) {
		switch x.Kind {
		case killOmniqd, killDuringStartup, pauseNode:
			nd := nodes[pick(x)]
			cf := &clusterFault{Kind: "kill", Node: nd.i, Name: nd.name, Began: faultBegan}
			if x.Kind == pauseNode {
				cf.Kind = "pause"
				if err = nd.d.signal(syscall.SIGSTOP); err != nil {
					break
				}
				f.Pauses++
			} else {
				if x.Abandon {
					l.died[nd.i].Add(1)
				}
				nd.d.kill9()
				f.Kills++
			}
			// The others go on: the first enqueue a live node acknowledges.
			probed := make(chan struct{})
			id := fmt.Sprintf("probe-%04d", len(hits)+1)
			go func() {
				defer close(probed)
				live, tries, err := l.probe(ctx, prober, nd.i, id, faultBegan, liveBound)
				cf.Live, cf.LiveTries = live, tries
				if err != nil {
					cf.LiveErr = err.Error()
				}
			}()
			sleep(ctx, x.Down-time.Since(faultBegan))
			cf.Back = time.Now()
			if x.Kind == pauseNode {
				err = nd.d.signal(syscall.SIGCONT)
			} else {
				if x.Kind == killDuringStartup {
					if err = killStarting(ctx, nd.d, h, f, x.Delay); err != nil {
						<-probed
						break
					}
				}
				err = start(nd)
			}
			<-probed
			cf.LiveWhileDown = cf.LiveErr == "" && faultBegan.Add(cf.Live).Before(cf.Back)
			hits = append(hits, cf)
		case serverFault:
			if err = setup.fault(ctx, x.Down); err == nil {
				f.ServerFaults++
			}
		}
		return err
	})
	run.finish(ctx, t, l, f, began, urls[0], ok)

	// Every node reaches the log's head and holds the same state.
	log, err := storeurl.Open(ctx, setup.url)
	if err != nil {
		t.Fatalf("open the store to check it: %v", err)
	}
	defer log.Close()
	same, views := sameState(ctx, log, urls, time.Minute)
	for _, v := range views {
		f.Conflicts += v.conflicts
	}

	// A clean stop of every node, then the checks on the log at rest.
	shutdown := &checkResult{name: checkCleanShutdown}
	for _, nd := range nodes {
		shutdown.checked++
		if code, err := nd.d.stop(60 * time.Second); err != nil || code != 0 {
			shutdown.fail("node %d exited %d on SIGTERM: %v\n%s", nd.i, code, err, nd.d.logTail(20))
		}
	}
	r, err := check(ctx, log, archiveDir, h)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	r.checks = append(r.checks, recovered, same, othersAnswer(hits), shutdown)
	// Strict: on a shared log every event was validated against the events
	// before it, so the fold ignores none; with the archive, the whole
	// history is verified.
	more := []string{"--strict"}
	if gz, _ := filepath.Glob(filepath.Join(archiveDir, "*.jsonl.gz")); len(gz) > 0 {
		more = append(more, "--archive", archiveDir)
	}
	verifyCheck(ctx, t, r.check(checkVerify), bin, setup.url, more...)

	skip := map[lease]bool{}
	for _, s := range h.stalled {
		skip[s] = true
	}
	if err := measureFailover(ctx, log, archiveDir, hits, skip); err != nil {
		t.Errorf("failover figures: %v", err)
	}
	f.Failover = hits

	fill(f, h, r, maxReady)
	// The outage clients of a cluster see: from a kill or pause to the
	// first enqueue a live node acknowledged.
	var maxOutage time.Duration
	for _, h := range hits {
		maxOutage = max(maxOutage, h.Live)
	}
	f.MaxOutage = maxOutage.Round(time.Millisecond).String()
	f.MaxServerOutage = worst.server.Round(time.Millisecond).String()
	for _, nd := range nodes {
		if lines := errorLines(nd.d.logPath, 5); len(lines) > 0 {
			t.Logf("%s: node %d logged errors (first %d):\n%s", name, nd.i, len(lines), strings.Join(lines, "\n"))
		}
	}
	var timeline []string
	for _, h := range hits {
		timeline = append(timeline, fmt.Sprintf("%s %s of node %d (%s) for %v; a live node acknowledged %v after",
			h.Began.Format("15:04:05.000"), h.Kind, h.Node, h.Name, h.Back.Sub(h.Began).Round(time.Millisecond), h.Live.Round(time.Millisecond)))
	}
	t.Logf("%s: the kills and pauses:\n%s", name, strings.Join(timeline, "\n"))
	t.Logf("%s checks:\n%s", name, r)
	t.Logf("%s failover:\n%s", name, failoverTable([]*figures{f}))
	if !r.ok() {
		t.Errorf("%s: checks failed; the end of the nodes' logs:\n%s", name, logTails(40))
	}
	if t.Failed() {
		var logs []string
		for _, nd := range nodes {
			logs = append(logs, nd.d.logPath)
		}
		keepHistory(ctx, t, bin, setup.url, archiveDir, fmt.Sprintf("omniq-faults-%d-cluster-%s", seed, name), logs)
	}
	return f
}

// keepHistory writes, for a run that failed, the whole history (archive
// and log, `omniqd export`) and copies of the omniqd logs into a directory
// of that name under the system's temporary directory, which outlives the
// test, and says where.
func keepHistory(ctx context.Context, t *testing.T, bin, store, archiveDir, name string, logs []string) {
	dir := filepath.Join(os.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("keep the history: %v", err)
		return
	}
	args := []string{"export", "--store", store, "--out", filepath.Join(dir, "history.jsonl")}
	if gz, _ := filepath.Glob(filepath.Join(archiveDir, "*.jsonl.gz")); len(gz) > 0 {
		args = append(args, "--archive", archiveDir)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = omniqdEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("omniqd export: %v\n%s", err, out)
	}
	for _, p := range logs {
		if b, err := os.ReadFile(p); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
		}
	}
	t.Logf("kept the history (history.jsonl: every event, archive and log) and the omniqd logs in %s", dir)
}

// errorLines returns the first n lines an omniqd log holds at level ERROR.
func errorLines(path string, n int) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && len(out) < n {
			out = append(out, line)
		}
	}
	return out
}

// nodeName asks d which node name its engine took (GET /v1/cluster); the
// log's task.leased events carry it.
func nodeName(ctx context.Context, d *daemon) string {
	for try := 0; try < 20; try++ {
		var st engine.ClusterStatus
		if err := getJSON(ctx, d.url()+"/v1/cluster", &st); err == nil {
			return st.Node
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ""
}

// getBody GETs url and returns the body of a 200 answer.
func getBody(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	body, err := getBody(ctx, url)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// probe enqueues task id through the nodes but skip, in turn, until one
// acknowledges it, and returns the time from began until then and the
// tries that got no answer.
func (l *load) probe(ctx context.Context, cn *conn, skip int, id string, began time.Time, bound time.Duration) (time.Duration, []string, error) {
	task := &engine.Task{ID: id, Func: funcWork, Retries: taskRetries}
	l.h.enqueueTried([]string{id})
	n := len(cn.clients)
	var tries []string
	var last error
	for j := (skip + 1) % n; time.Since(began) < bound; j = (j + 1) % n {
		if j == skip {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		tried := time.Now()
		err := cn.clients[j].Enqueue(cctx, task)
		cancel()
		switch {
		case err == nil:
			l.h.enqueueDone([]string{id}, enqueueAcked)
			return time.Since(began), tries, nil
		case len(tries) > 0 && errors.Is(err, engine.ErrDuplicateID):
			l.h.enqueueDone([]string{id}, enqueueWritten)
			return time.Since(began), tries, nil
		case definite(err):
			return time.Since(began), tries, fmt.Errorf("probe %s through node %d: %w", id, j, err)
		}
		l.h.noAnswer(err)
		tries = append(tries, fmt.Sprintf("node %d, %v after the fault, for %v: %v", j,
			tried.Sub(began).Round(time.Millisecond), time.Since(tried).Round(time.Millisecond), err))
		last = err
		sleep(ctx, 20*time.Millisecond)
	}
	return time.Since(began), tries, fmt.Errorf("no live node acknowledged the probe %s within %v: %v", id, bound, last)
}

// failoverBound is the failover time docs/cluster.md promises with the
// defaults: after a node dies or pauses, another node acknowledges writes
// within it.
const failoverBound = 5 * time.Second

// othersAnswer checks that after each kill and pause a live node
// acknowledged an enqueue within failoverBound: with no leader, nothing
// waits for the node hit. (Whether that came while the node was still down
// is in the failover table; on this 2-core machine, three nodes, a store
// and the load share the CPU, and a node restarting after a kill replays
// the log, so a live node's answer may take a second or two.)
func othersAnswer(hits []*clusterFault) *checkResult {
	c := &checkResult{name: checkOthersAnswer}
	for _, h := range hits {
		c.checked++
		switch {
		case h.LiveErr != "":
			c.fail("%s of node %d (%s) at %s: %s", h.Kind, h.Node, h.Name, h.Began.Format(time.RFC3339Nano), h.LiveErr)
		case h.Live > failoverBound:
			c.fail("%s of node %d (%s) at %s: the first enqueue a live node acknowledged came %v after the fault, past the %v bound (the node was back after %v)",
				h.Kind, h.Node, h.Name, h.Began.Format(time.RFC3339Nano), h.Live.Round(time.Millisecond), failoverBound, h.Back.Sub(h.Began).Round(time.Millisecond))
		}
	}
	return c
}

// nodeView is what one node answers about its state.
type nodeView struct {
	node      int
	name      string
	position  uint64 // GET /v1/cluster: the position its state reflects
	conflicts uint64
	stats     []byte // GET /v1/stats, the body
	err       error
}

// readViews asks every node for its position and its stats.
func readViews(ctx context.Context, urls []string) []nodeView {
	views := make([]nodeView, len(urls))
	for i, u := range urls {
		v := nodeView{node: i}
		var st engine.ClusterStatus
		if v.err = getJSON(ctx, u+"/v1/cluster", &st); v.err == nil {
			v.name, v.position, v.conflicts = st.Node, st.Position, st.Conflicts
			v.stats, v.err = getBody(ctx, u+"/v1/stats")
			v.stats = bytes.TrimSpace(v.stats)
		}
		views[i] = v
	}
	return views
}

// compareNodes lists how the nodes' views differ from the log's head and
// from one another (nothing: they agree).
func compareNodes(head uint64, views []nodeView) []string {
	var out []string
	var ref *nodeView
	for i := range views {
		v := &views[i]
		if v.err != nil {
			out = append(out, fmt.Sprintf("node %d: %v", v.node, v.err))
			continue
		}
		if v.position != head {
			out = append(out, fmt.Sprintf("node %d (%s) is at position %d; the log's head is %d", v.node, v.name, v.position, head))
		}
		if ref == nil {
			ref = v
			continue
		}
		if !bytes.Equal(v.stats, ref.stats) {
			out = append(out, fmt.Sprintf("node %d (%s) answers GET /v1/stats %s; node %d (%s) answers %s", v.node, v.name, v.stats, ref.node, ref.name, ref.stats))
		}
	}
	return out
}

// sameState waits, at most bound, until every node is at the log's head
// and all answer the same stats; it fails with the last differences seen.
// It returns the last views.
func sameState(ctx context.Context, log stores.Log, urls []string, bound time.Duration) (*checkResult, []nodeView) {
	c := &checkResult{name: checkSameState, checked: len(urls)}
	var diffs []string
	var views []nodeView
	for deadline := time.Now().Add(bound); ; {
		head, err := log.Head(ctx)
		views = readViews(ctx, urls)
		again, err2 := log.Head(ctx)
		switch {
		case err != nil || err2 != nil:
			diffs = []string{fmt.Sprintf("the log's head: %v", errors.Join(err, err2))}
		case head != again:
			diffs = []string{fmt.Sprintf("the log's head moved from %d to %d while the nodes were asked", head, again)}
		default:
			if diffs = compareNodes(head, views); len(diffs) == 0 {
				return c, views
			}
		}
		if time.Now().After(deadline) || !sleep(ctx, 250*time.Millisecond) {
			break
		}
	}
	for _, d := range diffs {
		c.fail("%s (still after %v)", d, bound)
	}
	return c, views
}

// measureFailover fills in each fault's lease figures from the history:
// the leases the incarnation hit had granted before the fault (the
// task.leased events name the node), still open at the fault, that ran out
// (skip: leases held past their deadline on purpose).
func measureFailover(ctx context.Context, log stores.Log, archiveDir string, hits []*clusterFault, skip map[lease]bool) error {
	type leaseRec struct {
		node                  string
		at                    time.Time
		deadline              events.Timestamp
		expired, ready, relet time.Time
	}
	recs := map[lease]*leaseRec{}
	st := projections.New()
	var archived int
	err := readHistory(ctx, log, archiveDir, &archived, func(ev events.Event) error {
		err := st.Apply(ev)
		if errors.Is(err, projections.ErrGap) {
			return err
		}
		if err != nil {
			return nil
		}
		switch p := ev.Payload.(type) {
		case *events.TaskLeased:
			recs[lease{ev.TaskID, p.Attempt}] = &leaseRec{node: p.Worker, at: ev.Time, deadline: p.Deadline}
			if prev := recs[lease{ev.TaskID, p.Attempt - 1}]; prev != nil && !prev.expired.IsZero() {
				prev.relet = ev.Time
			}
		case *events.TaskHeartbeat:
			if r := recs[lease{ev.TaskID, p.Attempt}]; r != nil {
				r.deadline = p.Deadline
			}
		case *events.TaskLeaseExpired:
			if r := recs[lease{ev.TaskID, p.Attempt}]; r != nil {
				r.expired = ev.Time
			}
		case *events.TaskRetryScheduled:
			if r := recs[lease{ev.TaskID, p.Attempt}]; r != nil && !r.expired.IsZero() {
				r.ready = p.RetryAt.Time()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range hits {
		for l, r := range recs {
			if skip[l] || r.node != h.Name || r.at.After(h.Began) || !r.expired.After(h.Began) {
				continue
			}
			dl := r.deadline.Time()
			h.Expiry = append(h.Expiry, r.expired.Sub(dl))
			if !r.relet.IsZero() {
				h.Relet = append(h.Relet, r.relet.Sub(dl))
				if !r.ready.IsZero() {
					h.Queued = append(h.Queued, r.relet.Sub(r.ready))
				}
			}
		}
		slices.Sort(h.Expiry)
		slices.Sort(h.Relet)
		slices.Sort(h.Queued)
	}
	return nil
}

// percentile returns the p-th percentile (0..1) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(time.Millisecond).String()
}

// failoverTable is the cluster runs' failover figures, a row per store and
// kind of fault: how soon a live node acknowledged an enqueue after the
// fault (p50, p99, max; and how many while the node was still down), and,
// for the leases the node hit had granted that ran out, from each
// deadline to its expiry and to the task's next lease, and from the
// retry_at of that expiry (the backoff) to the next lease. Then, per store,
// the probes that got no answer at first.
func failoverTable(all []*figures) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tfault\tn\tlive p50\tlive p99\tlive max\twhile down\tleases run out\texpiry p50\texpiry p99\tre-leased\tre-lease p50\tre-lease p99\tafter retry_at p50\tp99\t")
	for _, f := range all {
		if f.Nodes == 0 {
			continue
		}
		for _, kind := range []string{"kill", "pause"} {
			var live, expiry, relet, queued []time.Duration
			hits, during := 0, 0
			for _, h := range f.Failover {
				if h.Kind != kind {
					continue
				}
				hits++
				if h.LiveErr == "" {
					live = append(live, h.Live)
				}
				if h.LiveWhileDown {
					during++
				}
				expiry = append(expiry, h.Expiry...)
				relet = append(relet, h.Relet...)
				queued = append(queued, h.Queued...)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", f.Store, kind, hits,
				ms(percentile(live, 0.5)), ms(percentile(live, 0.99)), ms(percentile(live, 1)), during, hits,
				len(expiry), ms(percentile(expiry, 0.5)), ms(percentile(expiry, 0.99)),
				len(relet), ms(percentile(relet, 0.5)), ms(percentile(relet, 0.99)),
				ms(percentile(queued, 0.5)), ms(percentile(queued, 0.99)))
		}
	}
	tw.Flush()
	for _, f := range all {
		for _, h := range f.Failover {
			for _, try := range h.LiveTries {
				fmt.Fprintf(&b, "%s: %s of node %d at %s: the probe got no answer from %s\n", f.Store, h.Kind, h.Node, h.Began.Format("15:04:05.000"), try)
			}
		}
	}
	for _, f := range all {
		if f.Nodes > 0 {
			fmt.Fprintf(&b, "%s: %d nodes, %d kills (%d while starting), %d pauses, %d server faults; %d batches lost a conditional append (the nodes' current incarnations); %d leases dropped by workers that died with their node; %d answers 5xx, %d of them 500\n",
				f.Store, f.Nodes, f.Kills, f.StartupKills, f.Pauses, f.ServerFaults, f.Conflicts, f.Abandoned, f.Answer5xx, f.Answer500)
		}
	}
	return b.String()
}

// clusterReplay is the make command that replays a cluster run.
func clusterReplay(seed uint64, storeList string, kills, pauses int) string {
	s := fmt.Sprintf("make faults-cluster SEED=%d DURATION=%s CLUSTER_KILLS=%d CLUSTER_PAUSES=%d CLUSTER_STORES=%s CLUSTER_NODES=%d SERVER_FAULTS=%d",
		seed, *flagDuration, kills, pauses, storeList, *flagNodes, *flagServerFaults)
	return s + faultsArgs()
}

// testCluster is TestFaults with -cluster: each store of names in turn,
// with the omniqd binary bin ("": built from the working tree).
func testCluster(t *testing.T, seed uint64, bin string, names []string) []*figures {
	if *flagNodes < 2 {
		t.Fatalf("-nodes %d: a cluster has 2 nodes or more", *flagNodes)
	}
	for _, n := range names {
		if !slices.Contains(clusterStores, n) {
			t.Fatalf("-cluster -stores: %q cannot be shared by several processes (want some of %s)", n, strings.Join(clusterStores, ","))
		}
	}
	if bin == "" {
		bin = buildOmniqd(t, t.TempDir())
	}
	storeList := strings.Join(names, ",")
	t.Logf("seed %d: cluster of %d nodes, %d kills and %d pauses over %s, %s of load per store; replay: %s",
		seed, *flagNodes, *flagKills, *flagPauses, storeList, *flagDuration, clusterReplay(seed, storeList, *flagKills, *flagPauses))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d; replay: %s", seed, clusterReplay(seed, storeList, *flagKills, *flagPauses))
		}
	})
	var all []*figures
	for i, name := range names {
		kills := killsPerStore(*flagKills, len(names), i)
		pauses := killsPerStore(*flagPauses, len(names), i)
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("FAILED with seed %d; replay this store: %s", seed, clusterReplay(seed, name, kills, pauses))
				}
			})
			f := runCluster(t, bin, seed, name, kills, pauses)
			f.Passed = !t.Failed()
			all = append(all, f)
		})
	}
	return all
}

// storesGiven reports whether -stores was given on the command line.
func storesGiven() bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "stores" })
	return given
}

// clusterRetentionFloor bounds -retention from below in a cluster run. An
// enqueue is refused as a duplicate while its task is in the live state:
// until retention drops it, Age (×5/4) after it ended. A client whose
// enqueue reached a node that was then paused retries elsewhere up to
// clusterCallTimeout later; by then the task may have run and ended, and
// with a one-second retention been dropped, so the retry would enqueue it
// again. That is the documented contract (retention's age must exceed the
// clients' retry window), not a fault to find: the cluster keeps a
// retention well past the window.
const clusterRetentionFloor = 10 * time.Second

func clusterRetention() time.Duration {
	if *flagRetention <= 0 {
		return *flagRetention
	}
	return max(*flagRetention, clusterRetentionFloor)
}
