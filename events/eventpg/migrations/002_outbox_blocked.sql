-- A row the relay can never send (over the producer's size limit, not a
-- catalog event, or refused by the broker as too large or invalid) is
-- marked blocked. The relay then sends nothing more of its key until an
-- operator clears it (docs/operations.md), so the key's events never reach
-- Kafka out of order.
alter table outbox add column blocked_at timestamptz, add column blocked_reason text;
create index outbox_blocked on outbox (key) where blocked_at is not null;
