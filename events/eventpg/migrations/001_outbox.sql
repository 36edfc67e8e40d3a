-- Transactional outbox: events are written here in the same transaction as
-- the state that produced them, then relayed to Kafka in id order.
create table outbox (
    id          bigint generated always as identity primary key,
    topic       text not null,
    key         text not null,
    event_id    uuid not null unique,
    headers     jsonb not null,
    payload     bytea not null,
    created_at  timestamptz not null default now()
);
create index outbox_key on outbox (key);

-- How far the relay has written into each partition, updated in the same
-- transaction that deletes relayed rows. After a crash, records between
-- this position and the end of the partition are checked against the
-- outbox so nothing is published twice.
create table outbox_positions (
    topic        text not null,
    partition    integer not null,
    next_offset  bigint not null,
    primary key (topic, partition)
);
