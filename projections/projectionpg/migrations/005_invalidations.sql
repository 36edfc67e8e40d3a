-- Cache invalidations that committed batches of a live generation owe,
-- written in the batch's transaction and deleted once Redis has confirmed
-- them; what is left (Redis slow or down, a projector killed before it
-- sent them) is sent by the projectors' retry loop. One row per batch: for
-- each changed track, the release and release version its row reflects
-- (three arrays of the same length).
create table projection_invalidations (
    id          bigint generated always as identity primary key,
    projection  text not null,
    generation  integer not null,
    tracks      bigint[] not null,
    releases    bigint[] not null,
    versions    bigint[] not null,
    created_at  timestamptz not null default now(),
    check (cardinality(tracks) = cardinality(releases) and cardinality(tracks) = cardinality(versions))
);
