-- Track-details read model, first generation: one row per release, per
-- track and per (release, territory). Each release row carries the
-- per-release event sequence number it reflects; writes are guarded by it.

create table td_releases (
    release_id   bigint primary key,
    upc          text not null unique,
    title        text not null,
    artist_id    bigint not null,
    artist_name  text not null,
    label        text not null,
    version      bigint not null,
    updated_at   timestamptz not null default now()
);

create table td_tracks (
    track_id     bigint primary key,
    release_id   bigint not null references td_releases (release_id) on delete cascade,
    isrc         text not null,
    title        text not null,
    artist_id    bigint not null,
    artist_name  text not null,
    duration_s   integer not null,
    disc         integer not null,
    number       integer not null
);
create index td_tracks_release on td_tracks (release_id);
create index td_tracks_isrc on td_tracks (isrc);

create table td_availability (
    release_id      bigint not null references td_releases (release_id) on delete cascade,
    territory       char(2) not null,
    download_from   timestamptz,
    streaming_from  timestamptz,
    primary key (release_id, territory)
);

-- Where each projection is in each partition. Written in the same
-- transaction as the rows, so a restart resumes exactly after the last
-- applied batch. stale counts events that arrived again and changed nothing.
create table projection_checkpoints (
    projection   text not null,
    topic        text not null,
    partition    integer not null,
    next_offset  bigint not null,
    stale        bigint not null default 0,
    updated_at   timestamptz not null default now(),
    primary key (projection, topic, partition)
);
