-- Third layout of the track-details model: each generation of the read
-- model lives in a schema of its own (td_g1, td_g2, ...), created by code
-- (projectionpg.createGeneration); the stable names td.releases and
-- td.tracks are views on the live generation, switched in one transaction
-- when a rebuild is swapped in. Availability is stored compactly as terms
-- (a usage, a territory bitmap, a window and a price) on the release and on
-- tracks with deals of their own, instead of a row per track, territory and
-- usage. The projection replays the log from offset zero into generation 1.
drop table td_availability;
drop table td_tracks;
drop table td_releases;
drop table projection_checkpoints;

create schema td;

-- Generations of each projection: at most one live, at most one being
-- built (or paused) at a time.
create table projection_generations (
    projection  text not null,
    generation  integer not null,
    layout      integer not null,
    state       text not null check (state in ('building', 'paused', 'live', 'retired', 'cancelled')),
    mode        text not null default 'shadow' check (mode in ('shadow', 'in-place')),
    target      jsonb,
    created_at  timestamptz not null default now(),
    swapped_at  timestamptz,
    primary key (projection, generation)
);
create unique index projection_generations_live on projection_generations (projection) where state = 'live';
create unique index projection_generations_building on projection_generations (projection) where state in ('building', 'paused');

-- Where each generation of each projection is in each partition, written
-- in the same transaction as its rows.
create table projection_checkpoints (
    projection   text not null,
    generation   integer not null,
    topic        text not null,
    partition    integer not null,
    next_offset  bigint not null,
    stale        bigint not null default 0,
    applied      bigint not null default 0,
    updated_at   timestamptz not null default now(),
    primary key (projection, generation, topic, partition)
);

-- Events a projection could not decode or apply, and the later events of
-- the same release parked behind them, in offset order.
create table projection_parked (
    id          bigint generated always as identity primary key,
    projection  text not null,
    generation  integer not null,
    topic       text not null,
    partition   integer not null,
    "offset"    bigint not null,
    key         text not null,
    headers     jsonb not null,
    payload     bytea not null,
    reason      text not null,
    behind      bigint references projection_parked (id),
    parked_at   timestamptz not null default now(),
    unique (projection, generation, topic, partition, "offset")
);
create index projection_parked_key on projection_parked (projection, generation, key);
