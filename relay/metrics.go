package relay

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus metrics, on a registry of its own.
type metrics struct {
	log         *slog.Logger
	reg         *prometheus.Registry
	conns       prometheus.Gauge
	rooms       prometheus.Gauge
	framesIn    prometheus.Counter
	framesOut   prometheus.Counter
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	delivered   prometheus.Counter
	dropped     *prometheus.CounterVec
	refused     *prometheus.CounterVec
	storeAppend prometheus.Histogram
	pending     prometheus.Gauge
	refusedPub  *prometheus.CounterVec
	storeErrors prometheus.Counter
}

func newMetrics(log *slog.Logger) *metrics {
	m := &metrics{
		log:       log,
		reg:       prometheus.NewRegistry(),
		conns:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "relay_connections", Help: "Open WebSocket connections."}),
		rooms:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "relay_rooms", Help: "Rooms with connected members."}),
		framesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_frames_in_total", Help: "Messages received from clients."}),
		framesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_frames_out_total", Help: "Messages sent to clients."}),
		bytesIn:   prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_bytes_in_total", Help: "Bytes received from clients."}),
		bytesOut:  prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_bytes_out_total", Help: "Bytes sent to clients."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_delivered_total", Help: "Bodies forwarded live to members."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relay_dropped_connections_total",
			Help: "Connections the relay closed, by reason (slow, ping, join_timeout, truncated, protocol, internal, panic)."}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relay_refused_connections_total",
			Help: "Connections refused before the upgrade, by reason (token, connections, ip_rate, rooms, origin, room_name, host)."}, []string{"reason"}),
		storeAppend: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "relay_store_append_seconds",
			Help: "Time to store a body durably.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "relay_store_pending_bytes",
			Help: "Bytes of published bodies on their way to the store."}),
		refusedPub: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relay_refused_publishes_total",
			Help: "Publishes answered with an error, by code."}, []string{"code"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_store_errors_total",
			Help: "Bodies the store failed to keep."}),
	}
	m.reg.MustRegister(m.conns, m.rooms, m.framesIn, m.framesOut, m.bytesIn, m.bytesOut, m.delivered, m.dropped, m.refused,
		m.storeAppend, m.pending, m.refusedPub, m.storeErrors)
	return m
}

// The room logic reports through the Observer interface.

func (m *metrics) Published(_ string, _ int, stored time.Duration) {
	m.storeAppend.Observe(stored.Seconds())
}
func (m *metrics) Delivered(n int)       { m.delivered.Add(float64(n)) }
func (m *metrics) Dropped(reason string) { m.dropped.WithLabelValues(reason).Inc() }
func (m *metrics) Rooms(n int)           { m.rooms.Set(float64(n)) }
func (m *metrics) Refused(code string)   { m.refusedPub.WithLabelValues(code).Inc() }
func (m *metrics) Pending(delta int64)   { m.pending.Add(float64(delta)) }
func (m *metrics) StoreFailed(room string, err error) {
	m.storeErrors.Inc()
	m.log.Error("store", "room", room, "err", err)
}
