package eventpg

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/catalog-org/catalog/events"
)

// tracerName names the relay's spans' instrumentation scope.
const tracerName = "github.com/catalog-org/catalog/events/eventpg"

// startSends starts a producer span for each row of a send that came with
// a trace context ("send <topic>", a child of the request that wrote the
// row, OpenTelemetry's messaging conventions) and puts the span's context
// in the outgoing record in place of the writer's, so the record's
// consumers continue from the send. Nothing is started without
// RelayConfig.Tracing: the writer's trace context is then carried as it
// is. The slice holds nil for rows not traced.
func (r *Relay) startSends(ctx context.Context, layer []row, out []events.Outgoing) []trace.Span {
	if r.cfg.Tracing == nil {
		return nil
	}
	var spans []trace.Span
	tracer := r.cfg.Tracing.Tracer(tracerName)
	for i, b := range layer {
		if b.trace == nil {
			continue
		}
		if spans == nil {
			spans = make([]trace.Span, len(layer))
		}
		sctx, span := tracer.Start(events.ContextWithTrace(ctx, b.trace), "send "+b.topic,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.destination.name", b.topic),
				attribute.String("messaging.kafka.message.key", b.key),
				attribute.String("messaging.message.id", b.eventID),
				attribute.String("catalog.event.type", b.env.Type),
				attribute.Int64("catalog.event.sequence", b.env.Sequence),
				attribute.Int64("catalog.outbox.row", b.id),
			))
		spans[i] = span
		if h := events.TraceHeaders(sctx); h != nil {
			out[i].Trace = h
		}
	}
	return spans
}

// endSends ends the spans of a send: where each record landed, or why it
// failed.
func endSends(spans []trace.Span, pos []events.Position, err error) {
	if spans == nil {
		return
	}
	var se *events.SendError
	errors.As(err, &se)
	for i, span := range spans {
		if span == nil {
			continue
		}
		failed := err
		if se != nil {
			failed = se.Failed[i]
		}
		switch {
		case failed != nil:
			span.RecordError(failed)
			span.SetStatus(codes.Error, failed.Error())
		case i < len(pos):
			span.SetAttributes(
				attribute.String("messaging.destination.partition.id", strconv.Itoa(int(pos[i].Partition))),
				attribute.Int64("messaging.kafka.offset", pos[i].Offset),
			)
		}
		span.End()
	}
}
