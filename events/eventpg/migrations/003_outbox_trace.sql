-- The W3C trace context (traceparent, tracestate) of the request that
-- wrote the row, when it was traced; the relay carries it into the
-- record's headers. Null when nothing was traced.
alter table outbox add column trace jsonb;
