package projections

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/catalog-org/catalog/events"
)

// tracerName names the handler's spans' instrumentation scope.
const tracerName = "github.com/catalog-org/catalog/projections"

// WithTracing has the handler trace the batches whose records carry a
// trace context (events.TraceOf: written by a traced delivery), while
// enabled says so (nil: always). A projector traces its live generation
// only: a generation being rebuilt replays deliveries long answered, and
// their traces are closed.
//
// A traced batch is one span, "process <topic>" (a consumer span), a
// child of its first traced record's send and linked to the others',
// with the store's transaction ("apply batch") and the cache invalidation
// ("invalidate cache") under it. Every other trace among the batch's
// records gets a "process <topic>" span of its own, linked to the batch's
// and ended with it, so each delivery's trace shows when its change was
// committed and its cached entries dropped: visible.
func WithTracing(tp trace.TracerProvider, enabled func() bool) HandlerOption {
	return func(h *Handler) { h.tracing, h.traced = tp, enabled }
}

// traceBatch starts the spans of a batch (WithTracing) and returns the
// context its work runs in and the function that ends them.
func (p *Handler) traceBatch(ctx context.Context, b events.Batch) (context.Context, func(error)) {
	none := func(error) {}
	if p.tracing == nil || (p.traced != nil && !p.traced()) {
		return ctx, none
	}
	type traced struct {
		ctx    context.Context
		offset int64
	}
	var recs []traced
	for _, r := range b.Records {
		h := events.TraceOf(r)
		if h == nil {
			continue
		}
		rc := events.ContextWithTrace(context.Background(), h)
		if trace.SpanContextFromContext(rc).IsValid() {
			recs = append(recs, traced{rc, r.Offset})
		}
	}
	if len(recs) == 0 {
		return ctx, none
	}
	tracer := p.tracing.Tracer(tracerName)
	name := "process " + b.Topic
	common := []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", b.Topic),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(int(b.Partition))),
	}
	links := make([]trace.Link, 0, len(recs)-1)
	for _, r := range recs[1:] {
		links = append(links, trace.Link{SpanContext: trace.SpanContextFromContext(r.ctx),
			Attributes: []attribute.KeyValue{attribute.Int64("messaging.kafka.offset", r.offset)}})
	}
	bctx, batch := tracer.Start(trace.ContextWithRemoteSpanContext(ctx, trace.SpanContextFromContext(recs[0].ctx)), name,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(append(common,
			attribute.Int("messaging.batch.message_count", len(b.Records)),
			attribute.Int64("messaging.kafka.offset", b.Records[0].Offset),
			attribute.Int64("catalog.batch.last_offset", b.Records[len(b.Records)-1].Offset))...))
	own := map[trace.TraceID]bool{batch.SpanContext().TraceID(): true}
	var others []trace.Span
	for _, r := range recs[1:] {
		id := trace.SpanContextFromContext(r.ctx).TraceID()
		if own[id] {
			continue
		}
		own[id] = true
		_, s := tracer.Start(r.ctx, name, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithLinks(trace.Link{SpanContext: batch.SpanContext()}),
			trace.WithAttributes(append(common, attribute.Int64("messaging.kafka.offset", r.offset))...))
		others = append(others, s)
	}
	return bctx, func(err error) {
		for _, s := range append(others, batch) {
			if err != nil {
				s.RecordError(err)
				s.SetStatus(codes.Error, err.Error())
			}
			s.End()
		}
	}
}

// childSpan starts a span under ctx's span when that one is recording (a
// traced batch), and a non-recording one otherwise.
func childSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan ends span, marking it failed by err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
