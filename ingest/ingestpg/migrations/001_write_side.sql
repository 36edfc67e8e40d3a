-- Write-side state of ingest: what it needs to decide, nothing more.
-- Kafka is the event log of record; this is not a second event store.

-- One row per release: its catalogue id, the sequence number of its last
-- event and the fingerprint of the content that event carried.
create table release_streams (
    upc          text primary key,
    release_id   bigint generated always as identity unique,
    version      bigint not null default 0,
    fingerprint  text not null default '',
    updated_at   timestamptz not null default now()
);

-- Catalogue track ids: assigned once per ISRC, never changed.
create table track_ids (
    isrc      text primary key,
    track_id  bigint generated always as identity unique
);

-- Catalogue artist ids, assigned once per display name.
create table artist_ids (
    name       text primary key,
    artist_id  bigint generated always as identity unique
);
