package events

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// W3C Trace Context travels with an event as two plain record headers,
// traceparent and tracestate, the names OpenTelemetry's Kafka
// instrumentations of every language read and write. They are not part of
// the event (not CloudEvents attributes, not in the outbox's event
// headers): they say which request caused the record, for tracing only,
// and a record without them is the same event.
const (
	headerTraceParent = "traceparent"
	headerTraceState  = "tracestate"

	// MaxTraceStateBytes bounds the tracestate a record carries (W3C Trace
	// Context's own limit for a propagated tracestate is 512 characters);
	// a longer one is left out and the traceparent alone is carried. With
	// the traceparent's 55 characters, the trace headers stay well within
	// the room between MaxEventBytes and ProducerMaxMessageBytes.
	MaxTraceStateBytes = 512
)

// traceContext is W3C Trace Context propagation (traceparent, tracestate),
// whatever the process's global propagator is.
var traceContext propagation.TraceContext

// TraceHeaders returns the W3C trace context of the span in ctx as record
// headers, for a record that ctx's work causes; nil when ctx holds no valid
// span context (tracing is off, or nothing is being traced).
func TraceHeaders(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := propagation.MapCarrier{}
	traceContext.Inject(ctx, h)
	if len(h[headerTraceState]) > MaxTraceStateBytes {
		delete(h, headerTraceState)
	}
	if h[headerTraceParent] == "" {
		return nil
	}
	return h
}

// ContextWithTrace returns ctx carrying, as its remote parent, the span
// context the record headers h name (TraceHeaders); ctx itself when they
// name none or a malformed one.
func ContextWithTrace(ctx context.Context, h map[string]string) context.Context {
	if h[headerTraceParent] == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier(h))
}

// TraceOf returns the trace headers among a consumed record's headers
// (nil when it carries none).
func TraceOf(r Record) map[string]string {
	tp, ok := r.Headers[headerTraceParent]
	if !ok {
		return nil
	}
	h := map[string]string{headerTraceParent: tp}
	if ts := r.Headers[headerTraceState]; ts != "" {
		h[headerTraceState] = ts
	}
	return h
}
