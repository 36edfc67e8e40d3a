package projectionpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/catalog-org/catalog/projections"
)

// classify marks an error of Apply that a retry of the same batch can
// cure (projections.ErrTransient): the connection lost or refused, the
// server shutting down or starting up, out of resources, a serialization
// failure or deadlock, a lock or statement timeout, a deadline. Any other
// error (bad data, a violated constraint, a row affected twice) is left
// as it is: the projection treats it as deterministic once it repeats.
func classify(err error) error {
	if err == nil || !transient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", projections.ErrTransient, err)
}

func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (disk full, out of memory, too many connections)
			"57", // operator intervention: admin shutdown, crash shutdown, cannot connect now, query cancelled
			"58": // system error (I/O error)
			return true
		}
		switch pgErr.Code {
		case "40001", // serialization failure
			"40P01", // deadlock detected
			"40003", // statement completion unknown
			"55P03", // lock not available (lock_timeout)
			"55006": // object in use
			return true
		}
		return false
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr) || errors.As(err, &connErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
