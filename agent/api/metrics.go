package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/store"
)

// Metrics is the agent's Prometheus registry (a private one: nothing of
// the process-global default registry leaks in). Scores and findings are
// read from the store at scrape time, so they also reflect CLI scans and
// triage; scan outcomes and counts are recorded as the daemon reports them
// (ObserveRun). The outbox is read at scrape time too.
type Metrics struct {
	registry *prometheus.Registry

	scanDuration  *prometheus.HistogramVec
	scans         *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	packets       prometheus.Counter
	decodeErrors  prometheus.Counter
	probeRequests prometheus.Counter
}

// NewMetrics registers the agent's metrics; src answers the scrape-time
// reads.
func NewMetrics(src Source, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		scanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "otaudit_scan_duration_seconds",
			Help: "Duration of scheduled scans, per collector (pcap: passive capture analysis; active: the active probers together).",
			// From a small capture to a long active sweep.
			Buckets: prometheus.ExponentialBuckets(0.5, 4, 9),
		}, []string{"collector"}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otaudit_scans_total",
			Help: "Scheduled scans by mode and outcome (complete, incomplete, failed, error: did not start, skipped: not due by the schedule's rules).",
		}, []string{"mode", "status"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "otaudit_last_complete_scan_timestamp_seconds",
			Help: "Unix time the last complete scheduled scan of each mode finished.",
		}, []string{"mode"}),
		packets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otaudit_capture_packets_total",
			Help: "Packets read from capture files by scheduled passive scans.",
		}),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otaudit_decode_errors_total",
			Help: "Malformed frames and unparsable protocol data in capture files read by scheduled passive scans.",
		}),
		probeRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otaudit_probe_requests_total",
			Help: "Requests sent to devices by scheduled active scans.",
		}),
	}
	m.registry.MustRegister(m.scanDuration, m.scans, m.lastSuccess, m.packets, m.decodeErrors, m.probeRequests,
		&stateCollector{src: src, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	})
}

// Registry is the private registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ObserveRun records one scheduled scan (agent.Daemon.OnRun).
func (m *Metrics) ObserveRun(ev agent.RunEvent) {
	m.scans.WithLabelValues(ev.Mode, ev.Status()).Inc()
	if ev.Result == nil {
		return
	}
	m.scanDuration.WithLabelValues(ev.Collector).Observe(ev.Duration.Seconds())
	st := ev.Result.Scan.Stats
	if ev.Mode == "active" {
		m.probeRequests.Add(float64(st.Packets))
	} else {
		m.packets.Add(float64(st.Packets))
		m.decodeErrors.Add(float64(st.DecodeErrors))
	}
	if ev.Result.Scan.Status == otaudit.ScanComplete {
		m.lastSuccess.WithLabelValues(ev.Mode).Set(float64(ev.Result.Scan.Finished.Unix()))
	}
}

var (
	objectiveScoreDesc = prometheus.NewDesc("otaudit_objective_score",
		"Latest 0-100 score per zone and security objective (objectives not assessed are left out).",
		[]string{"zone", "objective"}, nil)
	securityLevelDesc = prometheus.NewDesc("otaudit_security_level",
		"Security level per zone and IEC 62443-3-3 foundational requirement: the target, and the achieved interval's lower and upper ends.",
		[]string{"zone", "fr", "level"}, nil)
	findingsDesc = prometheus.NewDesc("otaudit_findings",
		"Findings in the store by zone, severity and status.",
		[]string{"zone", "severity", "status"}, nil)
	outboxPendingDesc = prometheus.NewDesc("otaudit_outbox_pending",
		"Results waiting in the outbox for delivery to the export targets.",
		nil, nil)
	storeReadErrorsDesc = prometheus.NewDesc("otaudit_metrics_store_read_errors_total",
		"Scrapes whose store read failed (the previous values were served instead).",
		nil, nil)
)

// stateCollector reads scores and findings from the store at scrape time.
// When the read fails (a commit holds the store past the lock timeout) it
// serves the last values it read and counts the failure.
type stateCollector struct {
	src Source
	log *slog.Logger

	mu         sync.Mutex
	scores     []otaudit.ZoneScore
	findings   []otaudit.Finding
	outbox     int
	readErrors int
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- objectiveScoreDesc
	ch <- securityLevelDesc
	ch <- findingsDesc
	ch <- outboxPendingDesc
	ch <- storeReadErrorsDesc
}

var findingStatuses = []otaudit.FindingStatus{otaudit.StatusOpen, otaudit.StatusResolved, otaudit.StatusAcceptedRisk, otaudit.StatusFalsePositive}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	scores, err := c.src.Scores(ctx)
	var findings []otaudit.Finding
	if err == nil {
		findings, err = c.src.Findings(ctx, store.FindingFilter{})
	}
	var outbox int
	if err == nil {
		outbox, err = c.src.OutboxPending(ctx)
	}
	if err != nil {
		c.readErrors++
		c.log.Warn("metrics: store read failed; serving the previous values", "error", err)
	} else {
		c.scores, c.findings, c.outbox = scores, findings, outbox
	}

	zones := map[string]bool{}
	for _, zs := range c.scores {
		zones[zs.Zone] = true
		for _, o := range zs.Objectives {
			if o.Score < 0 {
				continue
			}
			ch <- prometheus.MustNewConstMetric(objectiveScoreDesc, prometheus.GaugeValue, float64(o.Score), zs.Zone, string(o.Objective))
		}
		for _, fr := range zs.FRs {
			name := fr.FR.String()
			ch <- prometheus.MustNewConstMetric(securityLevelDesc, prometheus.GaugeValue, float64(fr.Target), zs.Zone, name, "target")
			ch <- prometheus.MustNewConstMetric(securityLevelDesc, prometheus.GaugeValue, float64(fr.Lower), zs.Zone, name, "lower")
			ch <- prometheus.MustNewConstMetric(securityLevelDesc, prometheus.GaugeValue, float64(fr.Upper), zs.Zone, name, "upper")
		}
	}
	type key struct {
		zone     string
		severity otaudit.Severity
		status   otaudit.FindingStatus
	}
	counts := map[key]int{}
	for _, f := range c.findings {
		zones[f.Zone] = true
		counts[key{f.Zone, f.Severity, f.Status}]++
	}
	// Every combination is exported, zeros included, so that an alert on
	// critical open findings sees 0 rather than no series at all.
	for zone := range zones {
		for sev := otaudit.SeverityInfo; sev <= otaudit.SeverityCritical; sev++ {
			for _, st := range findingStatuses {
				ch <- prometheus.MustNewConstMetric(findingsDesc, prometheus.GaugeValue, float64(counts[key{zone, sev, st}]), zone, sev.String(), string(st))
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(c.outbox))
	ch <- prometheus.MustNewConstMetric(storeReadErrorsDesc, prometheus.CounterValue, float64(c.readErrors))
}
