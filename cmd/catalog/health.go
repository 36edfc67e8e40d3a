package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/alexliesenfeld/health"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections/projector"
)

// Readiness checks, by what a role needs. Each check's result is kept for
// readyCache, so a probe every few seconds costs each dependency at most
// one round trip a second; a check gets readyTimeout.
const (
	readyCache   = time.Second
	readyTimeout = 2 * time.Second
)

// withHealth serves /livez and /readyz in front of h:
//
//	/livez   200 while the process serves HTTP (a restart would not help
//	         a role whose dependency is down, so liveness checks nothing else)
//	/readyz  200 when every check passes, else 503; the body names each
//	         check and its error (JSON)
func withHealth(h http.Handler, checks ...health.Check) http.Handler {
	opts := []health.CheckerOption{health.WithCacheDuration(readyCache), health.WithTimeout(readyTimeout)}
	for _, c := range checks {
		opts = append(opts, health.WithCheck(c))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/readyz", health.NewHandler(health.NewChecker(opts...)))
	mux.Handle("/", h)
	return mux
}

// postgresCheck is ready when PostgreSQL answers.
func postgresCheck(pool *pgxpool.Pool) health.Check {
	return health.Check{Name: "postgres", Check: func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		return nil
	}}
}

// kafkaCheck is ready when the Kafka cluster answers a metadata request.
func kafkaCheck(admin *events.Admin) health.Check {
	return health.Check{Name: "kafka", Check: admin.Ping}
}

// redisCheck is ready when Redis answers.
func redisCheck(ping func(context.Context) error) health.Check {
	return health.Check{Name: "redis", Check: ping}
}

// lagCheck is ready when no projection's live generation is more than
// maxLag events behind the log: a projector catching up (its first
// projection, a restart after a long stop) is not ready until it is close
// to the end.
func lagCheck(ps []*projector.Projector, maxLag int64) health.Check {
	return health.Check{Name: "projection-lag", Check: func(ctx context.Context) error {
		for _, p := range ps {
			st, err := p.Status(ctx)
			if err != nil {
				return err
			}
			for _, g := range st.Generations {
				if g.State == "live" && g.Lag > maxLag {
					return fmt.Errorf("%s: the live generation %d is %d events behind the log (ready at %d or fewer: CATALOG_READY_MAX_LAG)", st.Projection, g.Number, g.Lag, maxLag)
				}
			}
		}
		return nil
	}}
}
