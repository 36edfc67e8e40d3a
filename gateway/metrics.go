package gateway

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	quotaRejections *prometheus.CounterVec
	redisErrors     prometheus.Counter
	fallbackCounted prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_gateway_requests_total",
			Help: "Requests by client, service and status."}, []string{"client", "service", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "catalog_gateway_request_seconds",
			Help: "Request latency through the gateway.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"service"}),
		quotaRejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_gateway_quota_rejections_total",
			Help: "Requests rejected over the daily limit."}, []string{"client"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "catalog_gateway_quota_store_errors_total",
			Help: "Requests whose quota Redis could not count in time."}),
		fallbackCounted: prometheus.NewCounter(prometheus.CounterOpts{Name: "catalog_gateway_quota_fallback_total",
			Help: "Requests counted by the per-process fallback counter while Redis was unavailable."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.quotaRejections, m.redisErrors, m.fallbackCounted)
	}
	return m
}
