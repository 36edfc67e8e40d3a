package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is OpenTelemetry's, configured by its standard environment
// variables (docs/operations.md, "Tracing"): it is on when
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT names
// a collector, and off otherwise, or with OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. Spans go by OTLP over HTTP (http/protobuf);
// the exporter reads the rest of OTEL_EXPORTER_OTLP_* (headers, TLS
// certificates, compression, timeout) and the batch processor OTEL_BSP_*.
var tracingEnv = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME",
	"OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

// newTracing builds the tracer provider of a process running role, or
// returns nil when tracing is off. Its service.name is catalog-<role>
// unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
func newTracing(ctx context.Context, getenv func(string) string, role string, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "none":
		return nil, nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: catalog exports traces by OTLP only; set otlp, or none to turn tracing off", e)
	}
	if getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return nil, nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(k)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%s: catalog sends OTLP over HTTP only; set http/protobuf (a collector's port 4318)", k, p)
			}
			break
		}
	}
	sampler, err := samplerFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "catalog-"+role), attribute.String("service.version", serviceVersion())),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: spans not exported", "err", err) }))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(requestRoots{sampler})), nil
}

// samplerFromEnv is the sampler OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG name (the OpenTelemetry specification's values;
// default parentbased_always_on). The SDK reads them itself only when no
// sampler is given, and catalog gives one (requestRoots), so it reads them
// here.
func samplerFromEnv(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER"))
	ratio := func() (float64, error) {
		arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
		if arg == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%s: want a ratio between 0 and 1", arg)
		}
		return f, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(f), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(f)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%s: want always_on, always_off, traceidratio or their parentbased_ forms", name)
}

// requestRoots starts traces only at requests: a span without a parent
// is sampled (by the configured sampler) when it is a server span, and
// dropped otherwise. Background work — the relay's polls, the projector's
// housekeeping, the gateway's client reloads — issues queries and Redis
// commands outside any request, and the database and Redis
// instrumentations would each start a trace of one span for them.
type requestRoots struct{ sdktrace.Sampler }

// ShouldSample implements sdktrace.Sampler.
func (s requestRoots) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if !trace.SpanContextFromContext(p.ParentContext).IsValid() && p.Kind != trace.SpanKindServer {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop}
	}
	return s.Sampler.ShouldSample(p)
}

// Description implements sdktrace.Sampler.
func (s requestRoots) Description() string { return "RequestRoots{" + s.Sampler.Description() + "}" }

// withTracing runs fn with cfg's tracer provider set from the environment
// (nil when tracing is off), and flushes the spans left when fn returns.
func withTracing(ctx context.Context, cfg config, log *slog.Logger, role string, fn func(config) error) error {
	tp, err := newTracing(ctx, cfg.getenv, role, log)
	if err != nil {
		return err
	}
	if tp == nil {
		return fn(cfg)
	}
	log.Info("tracing: exporting spans by OTLP")
	cfg.tracing = tp
	err = fn(cfg)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := tp.Shutdown(sctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("tracing: flush: %w", serr))
	}
	return err
}

// tracer is the provider the packages are given: nil when tracing is off
// (an untyped nil, which they test for).
func (c config) tracer() trace.TracerProvider {
	if c.tracing == nil {
		return nil
	}
	return c.tracing
}

// traceHTTP traces the requests h serves (server spans named by method and
// route) when tracing is on. Requests' W3C trace context is continued,
// except on a public endpoint (the gateway), where a client's is only
// linked: a client does not decide what is sampled, nor joins its traces
// to the catalogue's. Health and metrics requests are not traced.
func traceHTTP(h http.Handler, cfg config, public bool) http.Handler {
	if cfg.tracing == nil {
		return h
	}
	opts := []otelhttp.Option{
		otelhttp.WithTracerProvider(cfg.tracing),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Method + " " + r.Pattern
			}
			return r.Method
		}),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/livez", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	}
	if public {
		opts = append(opts, otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))
	}
	return otelhttp.NewHandler(h, "http", opts...)
}

// pgTracer is the PostgreSQL instrumentation (a span per query, batch and
// COPY, under the span of the work that issued it).
func (c config) pgTracer() *otelpgx.Tracer {
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(c.tracing), otelpgx.WithDisableAcquireTracer())
}

// redisInstrument adds the Redis instrumentation (a span per command,
// under the span of the work that issued it) to a client; nil when
// tracing is off.
func (c config) redisInstrument() func(redis.UniversalClient) error {
	if c.tracing == nil {
		return nil
	}
	return func(rdb redis.UniversalClient) error {
		return redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(c.tracing), redisotel.WithDialFilter(true))
	}
}

// serviceVersion is the build's commit (12 digits), or its module version
// when it has none.
func serviceVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev := buildRevision
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			rev = s.Value
		}
	}
	if rev != "" {
		return rev[:min(12, len(rev))]
	}
	return info.Main.Version
}
