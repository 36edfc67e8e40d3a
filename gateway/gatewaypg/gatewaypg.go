// Package gatewaypg stores API clients in PostgreSQL and keeps a copy in
// memory, reloaded every few seconds, so the gateway answers identity
// questions without a database round trip and sees changes within seconds.
package gatewaypg

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrClientExists reports a key that is already registered.
var ErrClientExists = errors.New("client key already exists")

// Migrate brings the clients table up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Migrate(ctx, pool, "gateway_schema_version", migrations)
}

// Store manages API clients and implements gateway.Clients from its cache.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu      sync.RWMutex
	clients map[string]gateway.Client
	loaded  bool
}

// New returns a Store on pool. Run Migrate first.
func New(pool *pgxpool.Pool, log *slog.Logger) (*Store, error) {
	if pool == nil || log == nil {
		return nil, errors.New("gatewaypg: pool and logger are required")
	}
	return &Store{pool: pool, log: log}, nil
}

// NewKey returns a random 32-hex-digit consumer key.
func NewKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Add registers a client with the catalogue service and the default daily
// limit, bound to parties (none when empty; see SetParties); it returns
// ErrClientExists for a taken key.
func (s *Store) Add(ctx context.Context, key, name string, parties ...string) error {
	if err := gateway.ValidKey(key); err != nil {
		return err
	}
	if parties == nil {
		parties = []string{}
	} else if err := gateway.ValidParties(parties); err != nil {
		return fmt.Errorf("add client %s: %w", name, err)
	}
	tag, err := s.pool.Exec(ctx, `insert into api_clients (key, name, parties) values ($1, $2, $3) on conflict (key) do nothing`, key, name, dedup(parties))
	if err != nil {
		return fmt.Errorf("add client %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("add client %s: %w", name, ErrClientExists)
	}
	return nil
}

// ErrNoClient reports a key that is not registered.
var ErrNoClient = errors.New("no client with that key")

func (s *Store) update(ctx context.Context, key, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, append([]any{key}, args...)...)
	if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("client %s: %w", key, ErrNoClient)
	}
	return nil
}

// SetLimit sets a client's daily request limit.
func (s *Store) SetLimit(ctx context.Context, key string, limit int) error {
	if limit < 0 {
		return fmt.Errorf("daily limit %d: must be 0 or more", limit)
	}
	return s.update(ctx, key, `update api_clients set daily_limit = $2, updated_at = now() where key = $1`, limit)
}

// Grant gives a client access to a service.
func (s *Store) Grant(ctx context.Context, key, service string) error {
	if !gateway.KnownService(service) {
		return fmt.Errorf("service %q: %w", service, gateway.ErrUnknownService)
	}
	return s.update(ctx, key, `update api_clients set services = array(select distinct unnest(services || $2::text)), updated_at = now() where key = $1`, service)
}

// Revoke takes a service away from a client.
func (s *Store) Revoke(ctx context.Context, key, service string) error {
	return s.update(ctx, key, `update api_clients set services = array_remove(services, $2), updated_at = now() where key = $1`, service)
}

// SetParties replaces the DDEX parties a client may deliver as: party ids,
// or gateway.AnyParty alone (gateway.ValidParties).
func (s *Store) SetParties(ctx context.Context, key string, parties []string) error {
	if err := gateway.ValidParties(parties); err != nil {
		return fmt.Errorf("client %s: %w", key, err)
	}
	return s.update(ctx, key, `update api_clients set parties = $2, updated_at = now() where key = $1`, dedup(parties))
}

// dedup returns parties without repeats, in their first order.
func dedup(parties []string) []string {
	out := make([]string, 0, len(parties))
	for _, p := range parties {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// SetEnabled enables or disables a client.
func (s *Store) SetEnabled(ctx context.Context, key string, enabled bool) error {
	return s.update(ctx, key, `update api_clients set enabled = $2, updated_at = now() where key = $1`, enabled)
}

// selectClients reads clients with their pins in one statement, so a
// reload sees each committed change (replicated ones included) whole.
const selectClients = `select c.key, c.name, c.enabled, c.daily_limit, c.services, c.parties,
	array(select p.route from api_client_pins p where p.key = c.key order by p.route),
	array(select p.region from api_client_pins p where p.key = c.key order by p.route),
	array(select coalesce(p.share, 0) from api_client_pins p where p.key = c.key order by p.route)
	from api_clients c `

// clientRow scans one row of selectClients.
type clientRow struct {
	c               gateway.Client
	routes, regions []string
	shares          []int32
}

func (r *clientRow) dest() []any {
	return []any{&r.c.Key, &r.c.Name, &r.c.Enabled, &r.c.DailyLimit, &r.c.Services, &r.c.Parties, &r.routes, &r.regions, &r.shares}
}

func (r *clientRow) client() gateway.Client {
	c := r.c
	c.Pins = nil
	for i := range r.routes {
		c.Pins = append(c.Pins, gateway.Pin{Route: r.routes[i], Region: r.regions[i], Share: int(r.shares[i])})
	}
	return c
}

// ByName returns the oldest enabled client with that name, if any.
func (s *Store) ByName(ctx context.Context, name string) (gateway.Client, bool, error) {
	var r clientRow
	err := s.pool.QueryRow(ctx, selectClients+`where c.name = $1 and c.enabled order by c.created_at limit 1`, name).Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Client{}, false, nil
	}
	if err != nil {
		return gateway.Client{}, false, fmt.Errorf("client %s: %w", name, err)
	}
	return r.client(), true, nil
}

// Get returns the client with key, or ErrNoClient.
func (s *Store) Get(ctx context.Context, key string) (gateway.Client, error) {
	var r clientRow
	err := s.pool.QueryRow(ctx, selectClients+`where c.key = $1`, key).Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Client{}, fmt.Errorf("client %s: %w", key, ErrNoClient)
	}
	if err != nil {
		return gateway.Client{}, fmt.Errorf("client %s: %w", key, err)
	}
	return r.client(), nil
}

// List returns every client, oldest first.
func (s *Store) List(ctx context.Context) ([]gateway.Client, error) {
	rows, err := s.pool.Query(ctx, selectClients+`order by c.created_at, c.key`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	var out []gateway.Client
	var r clientRow
	if _, err := pgx.ForEachRow(rows, r.dest(), func() error {
		out = append(out, r.client())
		r = clientRow{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// Reload replaces the cache with the table's current content.
func (s *Store) Reload(ctx context.Context) error {
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]gateway.Client, len(list))
	for _, c := range list {
		m[c.Key] = c
	}
	s.mu.Lock()
	s.clients, s.loaded = m, true
	s.mu.Unlock()
	return nil
}

// Watch reloads the cache every interval until ctx ends. A failed reload
// keeps the last good copy and is logged.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reloading API clients failed; keeping the last copy", "err", err)
			}
		}
	}
}

// Client implements gateway.Clients from the cache. Before the first
// successful load it answers with an error, so the gateway fails closed.
func (s *Store) Client(_ context.Context, key string) (gateway.Client, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.loaded {
		return gateway.Client{}, false, errors.New("API clients not loaded yet")
	}
	c, ok := s.clients[key]
	return c, ok, nil
}
