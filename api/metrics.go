package api

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// WithMetrics registers the API's request metrics with reg and records
// every request:
//
//	catalog_api_requests_total{route, status}   requests answered
//	catalog_api_request_seconds{route}          time to answer (histogram)
//
// route is the route's path as registered (/1.2/track/details, ...), or
// "other" for a path no route serves, so the label set stays bounded;
// status is the HTTP status code answered.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(o *options) { o.metrics = reg }
}

// requestMetrics are the metrics WithMetrics registers.
type requestMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	routes   map[string]bool // the registered routes' paths, set once they all are
}

func newRequestMetrics(reg prometheus.Registerer) (*requestMetrics, error) {
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_api_requests_total",
			Help: "Requests answered by the catalogue API, by route and status."}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "catalog_api_request_seconds",
			Help: "Time the catalogue API took to answer, by route.", Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14)}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// middleware records each request once it is answered (errors included:
// echo's error handler has written the status by then).
func (m *requestMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if !m.routes[route] {
			route = "other"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(c.Response().Status)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}
