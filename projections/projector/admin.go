package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/catalog-org/catalog/projections"
)

// AdminConfig configures the projectors' operations endpoints.
type AdminConfig struct {
	// Token is the bearer token the admin API requires; empty disables it
	// (403 with a message saying so).
	Token string
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
}

// NewAdminHandler serves the projectors' operations endpoints: /healthz,
// /metrics and, behind the admin token, the rebuild API of every projector
// in ps, under /admin/rebuilds/<projection>:
//
//	GET  /admin/rebuilds/{name}           the rebuild under way (404 when none)
//	POST /admin/rebuilds/{name}           start one ({"inPlace": true} for in place); 409 when one is under way
//	POST /admin/rebuilds/{name}/{action}  cancel (or pause) / resume
//
// Every error is one shape: {"error": "<message>"} with its status. The
// caller may add routes to the returned echo (e.g. pprof).
func NewAdminHandler(cfg AdminConfig, ps []*Projector, log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, msg := http.StatusInternalServerError, err.Error()
		var he *echo.HTTPError
		switch {
		case errors.As(err, &he):
			code, msg = he.Code, fmt.Sprint(he.Message)
		case errors.Is(err, projections.ErrNoRebuild):
			code = http.StatusNotFound
		case errors.Is(err, projections.ErrRebuildRunning):
			code = http.StatusConflict
		default:
			log.Error("admin request failed", "path", c.Path(), "err", err)
		}
		_ = c.JSON(code, map[string]string{"error": msg})
	}
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	if cfg.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})))
	}
	admin := e.Group("/admin", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Token == "" {
				return echo.NewHTTPError(http.StatusForbidden, "admin endpoints are disabled: set CATALOG_ADMIN_TOKEN")
			}
			if c.Request().Header.Get("Authorization") != "Bearer "+cfg.Token {
				return echo.NewHTTPError(http.StatusForbidden, "admin rights required")
			}
			return next(c)
		}
	})
	byName := map[string]*rebuildAPI{}
	for _, p := range ps {
		byName[p.Name()] = &rebuildAPI{p: p, log: log.With("projection", p.Name())}
	}
	find := func(c echo.Context) (*rebuildAPI, error) {
		a, ok := byName[c.Param("projection")]
		if !ok {
			names := make([]string, 0, len(ps))
			for _, p := range ps {
				names = append(names, p.Name())
			}
			return nil, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("unknown projection %q (this projector runs: %s)", c.Param("projection"), strings.Join(names, ", ")))
		}
		return a, nil
	}
	admin.GET("/rebuilds/:projection", func(c echo.Context) error {
		a, err := find(c)
		if err != nil {
			return err
		}
		return a.progress(c, http.StatusOK)
	})
	admin.POST("/rebuilds/:projection", func(c echo.Context) error {
		a, err := find(c)
		if err != nil {
			return err
		}
		var req struct {
			InPlace bool `json:"inPlace"`
		}
		if c.Request().ContentLength > 0 {
			if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, "body: "+err.Error())
			}
		}
		if _, err := a.p.rb.Start(c.Request().Context(), req.InPlace); err != nil {
			return err
		}
		a.watch()
		return a.progress(c, http.StatusAccepted)
	})
	admin.POST("/rebuilds/:projection/:action", func(c echo.Context) error {
		a, err := find(c)
		if err != nil {
			return err
		}
		switch strings.ToLower(c.Param("action")) {
		case "cancel", "pause":
			_, err = a.p.rb.Pause(c.Request().Context())
		case "resume":
			if _, err = a.p.rb.Resume(c.Request().Context()); err == nil {
				a.watch()
			}
		default:
			return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("unknown action %q (cancel, resume)", c.Param("action")))
		}
		if errors.Is(err, projections.ErrNoRebuild) {
			return echo.NewHTTPError(http.StatusConflict, err.Error())
		}
		if err != nil {
			return err
		}
		return a.progress(c, http.StatusOK)
	})
	return e
}

// rebuildAPI is one projection's rebuild endpoints: it watches a rebuild
// it started (or resumed) to its swap, once per projection at a time.
type rebuildAPI struct {
	p        *Projector
	log      *slog.Logger
	mu       sync.Mutex
	watching bool
}

func (a *rebuildAPI) watch() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watching {
		return
	}
	a.watching = true
	go func() {
		defer func() { a.mu.Lock(); a.watching = false; a.mu.Unlock() }()
		if _, err := a.p.rb.Run(context.Background(), 100*time.Millisecond, func(projections.Progress) {}); err != nil {
			a.log.Error("rebuild failed", "err", err)
		}
	}()
}

func (a *rebuildAPI) progress(c echo.Context, code int) error {
	p, err := a.p.rb.Progress(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(code, p)
}
