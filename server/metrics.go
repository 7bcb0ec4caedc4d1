package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omniq/omniq/engine"
	"github.com/omniq/omniq/internal/memstat"
	"github.com/omniq/omniq/stores"
)

// serveMetrics holds the server's Prometheus metrics. It is the engine's
// Observer (engine.WithObserver), and reads task counts from the engine at
// scrape time, so a scrape always matches the engine's state.
type serveMetrics struct {
	reg            *prometheus.Registry
	appended       prometheus.Counter
	appendErrors   prometheus.Counter
	appendSeconds  prometheus.Histogram
	leaseExpiries  prometheus.Counter
	replaySeconds  prometheus.Gauge
	replayPosition prometheus.Gauge
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
}

var _ engine.Observer = (*serveMetrics)(nil)

// newServeMetrics registers the metrics of a's server.
func newServeMetrics(a *api) *serveMetrics {
	m := &serveMetrics{
		reg:          prometheus.NewRegistry(),
		appended:     counter("omniq_events_appended_total", "Events durably appended to the log."),
		appendErrors: counter("omniq_append_errors_total", "Batch appends that failed (their commands were answered with the error)."),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "omniq_append_duration_seconds", Help: "Time to append one batch (group commit) to the log, including its sync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17), // 100µs .. 6.5s
		}),
		leaseExpiries:  counter("omniq_lease_expiries_total", "Leases that ran out without an answer (each a failed attempt)."),
		replaySeconds:  gauge("omniq_replay_duration_seconds", "How long the engine took to rebuild its state from the log at startup."),
		replayPosition: gauge("omniq_replay_position", "Log position the startup replay reached."),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omniq_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "omniq_http_request_duration_seconds", Help: "HTTP request latency by route pattern (long-poll dequeues include their wait).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5ms .. 131s
		}, []string{"route"}),
	}
	m.reg.MustRegister(
		m.appended, m.appendErrors, m.appendSeconds, m.leaseExpiries, m.replaySeconds, m.replayPosition,
		m.requests, m.requestSeconds,
		&taskCollector{engineOf: a.engine},
		gaugeFunc("omniq_dequeue_waiting", "Dequeue requests waiting (long-poll) for a task right now.", func() float64 { return float64(a.waiting.Load()) }),
		gaugeFunc("omniq_heap_inuse_bytes", "Bytes of heap spans in use: objects (live, or dead and not yet swept) and the free slots among them; MemStats.HeapInuse, read from runtime/metrics without stopping the world.", heapInuseBytes),
		gaugeFunc("omniq_memory_limit_bytes", "The Go soft memory limit the process runs with (--memory-limit, GOMEMLIMIT or the cgroup's); 0 when there is none.", memoryLimitBytes),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// counter, gauge and gaugeFunc make the unlabelled metrics of name and help.
func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

func gaugeFunc(name, help string, read func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read)
}

// Appended implements engine.Observer. A batch another node beat to a
// shared log is not an error: its commands are prepared again (counted in
// omniq_cluster_conflicts_total).
func (m *serveMetrics) Appended(n int, took time.Duration, err error) {
	m.appendSeconds.Observe(took.Seconds())
	if errors.Is(err, stores.ErrConflict) {
		return
	}
	if err != nil {
		m.appendErrors.Inc()
		return
	}
	m.appended.Add(float64(n))
}

// LeasesExpired implements engine.Observer.
func (m *serveMetrics) LeasesExpired(n int) { m.leaseExpiries.Add(float64(n)) }

// Replayed implements engine.Observer.
func (m *serveMetrics) Replayed(position uint64, took time.Duration) {
	m.replaySeconds.Set(took.Seconds())
	m.replayPosition.Set(float64(position))
}

// handler serves the metrics in the Prometheus text format.
func (m *serveMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observeRequest counts one finished request. route is the ServeMux pattern
// ("POST /v1/tasks"), never the raw path, so task ids do not blow up the
// label space.
func (m *serveMetrics) observeRequest(route string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.requestSeconds.WithLabelValues(route).Observe(took.Seconds())
}

// heapInuseBytes reads MemStats.HeapInuse without stopping the world.
func heapInuseBytes() float64 { return float64(memstat.HeapInuse()) }

// memoryLimitBytes is the process's soft memory limit, 0 when none.
func memoryLimitBytes() float64 {
	limit := debug.SetMemoryLimit(-1) // reads it
	if limit == math.MaxInt64 {
		return 0
	}
	return float64(limit)
}

// taskCollector reports engine.Stats at scrape time, with one call.
type taskCollector struct {
	engineOf func() *engine.Engine
}

var (
	tasksDesc = prometheus.NewDesc("omniq_tasks", "Tasks by queue and state (deleted tasks are not counted).",
		[]string{"queue", "state"}, nil)
	schedulesDesc        = prometheus.NewDesc("omniq_schedules", "Active recurring schedules.", nil, nil)
	positionDesc         = prometheus.NewDesc("omniq_log_position", "Log position the engine's state reflects.", nil, nil)
	clusterLagDesc       = prometheus.NewDesc("omniq_cluster_lag_events", "Events of the shared log this node's state has not folded in yet (head known minus position).", nil, nil)
	clusterConflictsDesc = prometheus.NewDesc("omniq_cluster_conflicts_total", "Batches another node appended to the shared log first; their commands were prepared again on the newer state.", nil, nil)
	clusterCaughtUpDesc  = prometheus.NewDesc("omniq_cluster_caught_up_events_total", "Events other nodes appended that this node folded into its state.", nil, nil)
	clusterSyncedDesc    = prometheus.NewDesc("omniq_cluster_synced_reads_total", "Reads that waited for this node's state to reach the shared log's head.", nil, nil)
	residentDesc         = prometheus.NewDesc("omniq_tasks_resident", "Tasks the engine holds in memory, by form: hot (full records: every task that has not ended, and ended ones not yet made compact) or cold (compact records of ended tasks, decoded on lookup).",
		[]string{"form"}, nil)
)

// taskStates are the states a task (not a schedule) can be in; each queue
// reports all of them, so a count that drops to zero shows as 0, not as a
// missing series.
var taskStates = []engine.State{
	engine.StateWaiting, engine.StatePending, engine.StateRunning, engine.StateCompleted,
	engine.StateFailed, engine.StateExpired, engine.StateCancelled,
}

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- schedulesDesc
	ch <- positionDesc
	ch <- residentDesc
	ch <- clusterLagDesc
	ch <- clusterConflictsDesc
	ch <- clusterCaughtUpDesc
	ch <- clusterSyncedDesc
}

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	q := c.engineOf()
	if q == nil {
		return
	}
	st, _ := q.Stats(context.Background()) // an engine's Stats do not fail
	for queue, counts := range st.Queues {
		for _, s := range taskStates {
			ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(counts[s]), queue, string(s))
		}
	}
	ch <- prometheus.MustNewConstMetric(schedulesDesc, prometheus.GaugeValue, float64(st.Schedules))
	ch <- prometheus.MustNewConstMetric(positionDesc, prometheus.GaugeValue, float64(st.Position))
	ch <- prometheus.MustNewConstMetric(residentDesc, prometheus.GaugeValue, float64(st.HotTasks), "hot")
	ch <- prometheus.MustNewConstMetric(residentDesc, prometheus.GaugeValue, float64(st.ColdTasks), "cold")
	cs := q.ClusterCounters() // a scrape reads no presence records from the store
	ch <- prometheus.MustNewConstMetric(clusterLagDesc, prometheus.GaugeValue, float64(cs.Lag))
	ch <- prometheus.MustNewConstMetric(clusterConflictsDesc, prometheus.CounterValue, float64(cs.Conflicts))
	ch <- prometheus.MustNewConstMetric(clusterCaughtUpDesc, prometheus.CounterValue, float64(cs.CaughtUp))
	ch <- prometheus.MustNewConstMetric(clusterSyncedDesc, prometheus.CounterValue, float64(cs.SyncedReads))
}
