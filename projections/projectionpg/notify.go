package projectionpg

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// GenerationsChannel is the PostgreSQL notification channel on which every
// change to a projection's generations is announced, with the projection's
// name as the payload (migration 006: a trigger on projection_generations,
// so changes made by hand are announced too).
const GenerationsChannel = "catalog_projection_generations"

// WatchGenerations sends on wake (without blocking: one pending wake is
// enough) whenever the projection's generations change, until ctx ends.
// It holds a connection of its own, outside the pool, and reconnects after
// reconnect when the connection is lost; a change made while it was away
// is seen at the watcher's next look, so a caller keeps looking on a timer
// too and a lost notification only costs that interval.
func (s *Store) WatchGenerations(ctx context.Context, wake chan<- struct{}, reconnect time.Duration, log *slog.Logger) {
	cfg := s.pool.Config().ConnConfig
	l := &pgxlisten.Listener{
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg.Copy()) },
		ReconnectDelay: reconnect,
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				log.Warn("watching generation changes", "channel", GenerationsChannel, "err", err)
			}
		},
	}
	l.Handle(GenerationsChannel, pgxlisten.HandlerFunc(func(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
		if n.Payload == s.name {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		return nil
	}))
	_ = l.Listen(ctx) // returns only when ctx ends
}
