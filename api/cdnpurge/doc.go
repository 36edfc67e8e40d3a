// Package cdnpurge keeps a CDN in front of the gateway in step with the
// catalogue: after each change of a release is committed to the read model
// the API serves, it sends the change's surrogate keys (api.PurgeKeys) to a
// purge endpoint of Fastly's shape (POST /service/{id}/purge with a
// Surrogate-Key header and a Fastly-Key token), so a cached answer lives
// until the change is served, not until max-age.
//
// It is a side-effect consumer, at least once with idempotent effects, so it
// runs on watermill's message.Router rather than on the exactly-once
// projection machinery: its own consumer group, Retry, Recoverer, a poison
// queue topic and watermill's Prometheus metrics are router middleware.
//
// The race it avoids: a purge sent before the read model has committed the
// change lets the CDN fetch and keep the old answer again. So the handler
// first waits until ReadModel.Committed says the live track-details
// generation's stored checkpoint for the event's partition has passed the
// event's offset and the release's Redis invalidation has been confirmed;
// only then does it purge. A purge that keeps failing is retried with
// backoff and, after the bound, published to the poison topic, where
// ListPoisoned shows it and Resend sends it again.
package cdnpurge
