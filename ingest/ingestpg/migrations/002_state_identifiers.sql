-- Streams are keyed by their aggregate key (the UPC a release was first
-- delivered with, else its GRid) and keep the release's current state as
-- the last events describe it. Identifiers map any UPC or GRid a release
-- has been delivered with to its stream.
alter table release_streams rename column upc to stream_key;
alter table release_streams drop column fingerprint;
alter table release_streams add column state jsonb;

create table release_identifiers (
    kind        text not null check (kind in ('upc', 'grid')),
    value       text not null,
    stream_key  text not null references release_streams (stream_key),
    primary key (kind, value)
);
insert into release_identifiers (kind, value, stream_key) select 'upc', stream_key, stream_key from release_streams;
