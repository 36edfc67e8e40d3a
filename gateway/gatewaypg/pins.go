package gatewaypg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/gateway"
)

// ErrBadShare reports daily-limit shares that would add up to more than
// the client's whole limit.
var ErrBadShare = errors.New("invalid daily-limit share")

// Pin homes a client's API requests in region: all of them when routes is
// empty, else those of the endpoints under each route
// (gateway.NormalizePinRoute). A pin replaces the one on the same route.
// share, when above 0, is the percentage of the client's daily limit that
// region counts for the requests it serves (gateway.Client.DailyLimitIn);
// it applies to every pin of the client to that region. Shares of
// different regions add up to at most 100 (else ErrBadShare).
func (s *Store) Pin(ctx context.Context, key, region string, routes []string, share int) error {
	if err := gateway.ValidRegion(region); err != nil {
		return fmt.Errorf("pin %s: %w", key, err)
	}
	if share < 0 || share > 100 {
		return fmt.Errorf("pin %s: %w: %d%%: from 1 to 100 (0: none)", key, ErrBadShare, share)
	}
	norm, err := pinRoutes(routes)
	if err != nil {
		return fmt.Errorf("pin %s: %w", key, err)
	}
	return s.inClient(ctx, key, func(tx pgx.Tx) error {
		var named *int32
		if share > 0 {
			v := int32(share)
			named = &v
		} else if err := tx.QueryRow(ctx, `select max(share) from api_client_pins where key = $1 and region = $2`, key, region).Scan(&named); err != nil {
			return err
		}
		for _, r := range norm {
			if _, err := tx.Exec(ctx, `insert into api_client_pins (key, route, region, share) values ($1, $2, $3, $4)
				on conflict (key, route) do update set region = excluded.region, share = excluded.share, created_at = now()`, key, r, region, named); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `update api_client_pins set share = $3 where key = $1 and region = $2`, key, region, named); err != nil {
			return err
		}
		var total int
		if err := tx.QueryRow(ctx, `select coalesce(sum(s), 0) from (select max(share) s from api_client_pins where key = $1 group by region) t`, key).Scan(&total); err != nil {
			return err
		}
		if total > 100 {
			return fmt.Errorf("%w: the client's regions would count %d%% of its daily limit; lower another region's share first", ErrBadShare, total)
		}
		_, err := tx.Exec(ctx, `update api_clients set updated_at = now() where key = $1`, key)
		return err
	})
}

// Unpin removes a client's pins: the one of all its routes when routes is
// empty, else those of the routes named; all when all is true. Requests
// a pin covered go to the next most specific pin's region, or Central.
func (s *Store) Unpin(ctx context.Context, key string, routes []string, all bool) error {
	norm, err := pinRoutes(routes)
	if err != nil {
		return fmt.Errorf("unpin %s: %w", key, err)
	}
	return s.inClient(ctx, key, func(tx pgx.Tx) error {
		var err error
		if all {
			_, err = tx.Exec(ctx, `delete from api_client_pins where key = $1`, key)
		} else {
			_, err = tx.Exec(ctx, `delete from api_client_pins where key = $1 and route = any($2)`, key, norm)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `update api_clients set updated_at = now() where key = $1`, key)
		return err
	})
}

// inClient runs fn in a transaction holding the client's row lock (so
// concurrent changes of its pins apply one after the other), or returns
// ErrNoClient.
func (s *Store) inClient(ctx context.Context, key string, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var k string
		err := tx.QueryRow(ctx, `select key from api_clients where key = $1 for update`, key).Scan(&k)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("client %s: %w", key, ErrNoClient)
		}
		if err != nil {
			return fmt.Errorf("client %s: %w", key, err)
		}
		if err := fn(tx); err != nil {
			if errors.Is(err, ErrBadShare) || errors.Is(err, ErrNoClient) {
				return fmt.Errorf("client %s: %w", key, err)
			}
			return fmt.Errorf("pins of client %s: %w", key, err)
		}
		return nil
	})
}

// pinRoutes normalises the routes of a pin; none is the pin of every route
// (the empty route).
func pinRoutes(routes []string) ([]string, error) {
	if len(routes) == 0 {
		return []string{""}, nil
	}
	norm := make([]string, 0, len(routes))
	for _, r := range routes {
		n, err := gateway.NormalizePinRoute(r)
		if err != nil {
			return nil, err
		}
		norm = append(norm, n)
	}
	return norm, nil
}
