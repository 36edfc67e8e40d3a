package gatewaypg

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Publication is the central database's logical-replication publication of
// the gateway's tables: the clients and their pins, the only tables a
// regional gateway reads. Regions subscribe to it (Subscribe); PostgreSQL
// itself copies the tables and streams every committed change, so a region
// needs no code of catalog's to stay in step.
const Publication = "catalog_gateway"

// replicatedTables are the tables in Publication.
var replicatedTables = []string{"api_clients", "api_client_pins"}

// ErrNotLogical reports a central server whose wal_level is not logical:
// it cannot publish changes.
var ErrNotLogical = errors.New("wal_level is not logical")

// Publish makes the central database publish the gateway's tables
// (Publication), migrating them first. Idempotent: a second call only
// makes sure the publication lists exactly those tables. The server must
// run with wal_level=logical (else ErrNotLogical).
func Publish(ctx context.Context, central *pgxpool.Pool) error {
	var level string
	if err := central.QueryRow(ctx, `show wal_level`).Scan(&level); err != nil {
		return fmt.Errorf("publish clients: %w", err)
	}
	if level != "logical" {
		return fmt.Errorf("publish clients: the central PostgreSQL runs with wal_level=%s: %w (start it with -c wal_level=logical, a restart)", level, ErrNotLogical)
	}
	if err := Migrate(ctx, central); err != nil {
		return err
	}
	tables := strings.Join(replicatedTables, ", ")
	var exists bool
	if err := central.QueryRow(ctx, `select exists (select 1 from pg_publication where pubname = $1)`, Publication).Scan(&exists); err != nil {
		return fmt.Errorf("publish clients: %w", err)
	}
	stmt := "create publication " + Publication + " for table " + tables
	if exists {
		stmt = "alter publication " + Publication + " set table " + tables
	}
	if _, err := central.Exec(ctx, stmt); err != nil {
		// Two first calls at once: the other one created it.
		if !exists && isDuplicate(err) {
			return Publish(ctx, central)
		}
		return fmt.Errorf("publish clients: %w", err)
	}
	return nil
}

var subscriptionName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// SubscriptionName returns the default subscription (and, on the central
// server, replication slot) name of region: catalog_gateway_<region>, with
// '-' as '_'. Slot names are unique per central server, so each region
// needs its own.
func SubscriptionName(region string) string {
	return Publication + "_" + strings.ReplaceAll(region, "-", "_")
}

// Subscribe makes the regional database a subscriber of the central
// database's Publication under name (a replication slot of that name is
// created on the central server), migrating the gateway's tables first:
// PostgreSQL copies the central rows, then applies every committed change.
// centralConn is a libpq connection string (or postgres:// URL) the
// regional server itself uses to reach the central one. Idempotent: when
// the subscription exists, its connection is updated and it is refreshed,
// which starts copying any table added to the publication since.
//
// Schema changes are not replicated: run the gateway's migrations on every
// region before the central database (any catalog command against the
// region does), so a region always has the columns central writes.
//
// The regional copy belongs to the subscription: nothing else may write
// it (catalog's clients commands refuse outside the central region).
func Subscribe(ctx context.Context, region *pgxpool.Pool, name, centralConn string) error {
	if !subscriptionName.MatchString(name) {
		return fmt.Errorf("subscribe clients: subscription name %q: a lower-case letter, then up to 62 lower-case letters, digits or '_'", name)
	}
	if strings.TrimSpace(centralConn) == "" {
		return errors.New("subscribe clients: the central database's connection string is empty")
	}
	if err := Migrate(ctx, region); err != nil {
		return err
	}
	var exists bool
	if err := region.QueryRow(ctx, `select exists (select 1 from pg_subscription s join pg_database d on d.oid = s.subdbid
		where s.subname = $1 and d.datname = current_database())`, name).Scan(&exists); err != nil {
		return fmt.Errorf("subscribe clients: %w", err)
	}
	conn := quoteLiteral(centralConn)
	if !exists {
		// CREATE SUBSCRIPTION connects to the central server, creates the
		// slot there and starts the initial copy in the background.
		_, err := region.Exec(ctx, "create subscription "+name+" connection "+conn+" publication "+Publication)
		if err == nil {
			return nil
		}
		if !isDuplicate(err) {
			return fmt.Errorf("subscribe clients as %s: %w", name, err)
		}
	}
	for _, stmt := range []string{
		"alter subscription " + name + " connection " + conn,
		"alter subscription " + name + " enable",
		"alter subscription " + name + " refresh publication",
	} {
		if _, err := region.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("subscribe clients as %s: %w", name, err)
		}
	}
	return nil
}

// Unsubscribe drops the regional database's subscription name, and with it
// the replication slot on the central server. When the central server
// cannot be reached the subscription is dropped all the same and its slot
// is left there (reported in the error, which wraps ErrSlotLeft): drop it
// on the central server with pg_drop_replication_slot, or it keeps WAL
// forever. Without such a subscription it does nothing.
func Unsubscribe(ctx context.Context, region *pgxpool.Pool, name string) error {
	if !subscriptionName.MatchString(name) {
		return fmt.Errorf("unsubscribe clients: subscription name %q is not one", name)
	}
	_, err := region.Exec(ctx, "drop subscription if exists "+name)
	if err == nil {
		return nil
	}
	for _, stmt := range []string{
		"alter subscription " + name + " disable",
		"alter subscription " + name + " set (slot_name = none)",
		"drop subscription " + name,
	} {
		if _, err2 := region.Exec(ctx, stmt); err2 != nil {
			return fmt.Errorf("unsubscribe clients %s: %w (then %w)", name, err, err2)
		}
	}
	return fmt.Errorf("unsubscribe clients %s: %w %q on the central server (%v)", name, ErrSlotLeft, name, err)
}

// ErrSlotLeft reports a subscription dropped without its replication slot.
var ErrSlotLeft = errors.New("dropped; the central server was not reached, so drop its replication slot")

// TableState is one replicated table's state in a subscription.
type TableState struct {
	Table string
	// State is PostgreSQL's: "ready" once the initial copy is done and
	// changes stream; "init", "copying data", "synchronized" or
	// "finished copy" before.
	State string
}

// ReplicationStatus is a regional database's view of its subscription.
type ReplicationStatus struct {
	Subscription string
	Enabled      bool
	// Running: the apply worker is connected to the central server.
	Running bool
	Tables  []TableState
	// ReceivedLSN is the last central WAL position received ("" before
	// the first).
	ReceivedLSN string
	// LastMessage is when the region last received anything (changes
	// or its keepalive); zero before the first message.
	LastMessage time.Time
	// LagBytes is how far, in central WAL bytes, the subscription's
	// confirmed position trails the central server's current one; -1 when
	// the central server was not asked (or not reached).
	LagBytes int64
}

// Ready reports whether every table is copied and changes stream.
func (s ReplicationStatus) Ready() bool {
	if !s.Enabled || !s.Running || len(s.Tables) < len(replicatedTables) {
		return false
	}
	for _, t := range s.Tables {
		if t.State != "ready" {
			return false
		}
	}
	return true
}

// ErrNoSubscription reports a database without the subscription asked for.
var ErrNoSubscription = errors.New("no such subscription in this database")

// Status reports the regional database's subscription name. With central
// not nil it also asks the central server how many WAL bytes the
// subscription's slot trails by.
func Status(ctx context.Context, region *pgxpool.Pool, name string, central *pgxpool.Pool) (ReplicationStatus, error) {
	st := ReplicationStatus{Subscription: name, LagBytes: -1}
	var oid uint32
	err := region.QueryRow(ctx, `select s.oid, s.subenabled from pg_subscription s join pg_database d on d.oid = s.subdbid
		where s.subname = $1 and d.datname = current_database()`, name).Scan(&oid, &st.Enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("subscription %s: %w", name, ErrNoSubscription)
	}
	if err != nil {
		return st, fmt.Errorf("subscription %s: %w", name, err)
	}
	var pid *int32
	var lsn *string
	var last *time.Time
	err = region.QueryRow(ctx, `select pid, received_lsn::text, last_msg_receipt_time from pg_stat_subscription where subid = $1 and relid is null`, oid).Scan(&pid, &lsn, &last)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("subscription %s: %w", name, err)
	}
	st.Running = pid != nil
	if lsn != nil {
		st.ReceivedLSN = *lsn
	}
	if last != nil {
		st.LastMessage = *last
	}
	rows, err := region.Query(ctx, `select c.relname, case r.srsubstate when 'i' then 'init' when 'd' then 'copying data'
		when 'f' then 'finished copy' when 's' then 'synchronized' when 'r' then 'ready' else r.srsubstate::text end
		from pg_subscription_rel r join pg_class c on c.oid = r.srrelid where r.srsubid = $1 order by c.relname`, oid)
	if err != nil {
		return st, fmt.Errorf("subscription %s: %w", name, err)
	}
	var t TableState
	if _, err := pgx.ForEachRow(rows, []any{&t.Table, &t.State}, func() error {
		st.Tables = append(st.Tables, t)
		return nil
	}); err != nil {
		return st, fmt.Errorf("subscription %s: %w", name, err)
	}
	if central != nil {
		err := central.QueryRow(ctx, `select coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint
			from pg_replication_slots where slot_name = $1`, name).Scan(&st.LagBytes)
		if err != nil {
			st.LagBytes = -1
			return st, fmt.Errorf("replication slot %s on the central server: %w", name, err)
		}
	}
	return st, nil
}

// quoteLiteral quotes s as an SQL string literal (DDL takes no parameters).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// isDuplicate reports PostgreSQL's duplicate_object error.
func isDuplicate(err error) bool {
	var pe interface{ SQLState() string }
	return errors.As(err, &pe) && pe.SQLState() == "42710"
}
