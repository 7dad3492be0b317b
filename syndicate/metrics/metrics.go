// Package metrics holds the daemon's own Prometheus metrics, all named
// syndicate_…, on a registry of their own (no global state).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the counters and gauges the jobs update.
type Metrics struct {
	registry *prometheus.Registry

	Posts           *prometheus.CounterVec // network, result: made, failed
	Messages        *prometheus.CounterVec // result: sent, temporary, failed
	JobRuns         *prometheus.CounterVec // job, result: ok, partial, error
	LastSuccess     *prometheus.GaugeVec   // job
	PendingArticles *prometheus.GaugeVec   // network
	DigestReaders   *prometheus.GaugeVec   // state: done, total (of the digest being sent)
	// Leader is 1 while this replica is the one that posts (always, for
	// the only process of a SQLite state), 0 otherwise.
	Leader prometheus.Gauge
	// Replica names this process among the replicas sharing a state
	// (value 1): its sends are the syndicate_messages_total beside it.
	Replica *prometheus.GaugeVec // replica
}

// New makes the metrics and their registry, with the post series of each
// network (mastodon, bluesky) visible from the start.
func New(networks ...string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		Posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syndicate_posts_total", Help: "Posts made, and articles that failed, by network (mastodon, bluesky).",
		}, []string{"network", "result"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syndicate_messages_total", Help: "Digest messages by outcome: sent, temporary (4xx) or failed (5xx).",
		}, []string{"result"}),
		JobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syndicate_job_runs_total", Help: "Job runs by job and result: ok, partial (some items failed) or error.",
		}, []string{"job", "result"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syndicate_last_success_timestamp_seconds", Help: "When each job last ran without error (Unix time).",
		}, []string{"job"}),
		PendingArticles: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syndicate_pending_articles", Help: "Articles waiting to be posted (by the per-run cap or their date), by network.",
		}, []string{"network"}),
		DigestReaders: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syndicate_digest_readers", Help: "Progress of the digest being sent: readers done and in total.",
		}, []string{"state"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "syndicate_leader", Help: "1 while this replica is the leader (the one that posts), else 0.",
		}),
		Replica: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syndicate_replica_info", Help: "This replica's name among those sharing the state (always 1).",
		}, []string{"replica"}),
	}
	m.registry.MustRegister(m.Posts, m.Messages, m.JobRuns, m.LastSuccess, m.PendingArticles, m.DigestReaders, m.Leader, m.Replica,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Make every series visible from the start, at zero.
	for _, n := range networks {
		for _, r := range []string{"made", "failed"} {
			m.Posts.WithLabelValues(n, r)
		}
		m.PendingArticles.WithLabelValues(n)
	}
	for _, r := range []string{"sent", "temporary", "failed"} {
		m.Messages.WithLabelValues(r)
	}
	return m
}

// Ran records a job run.
func (m *Metrics) Ran(job, result string, at time.Time) {
	m.JobRuns.WithLabelValues(job, result).Inc()
	if result != "error" {
		m.LastSuccess.WithLabelValues(job).Set(float64(at.Unix()))
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
