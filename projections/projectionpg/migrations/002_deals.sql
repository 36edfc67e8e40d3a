-- Second generation of the track-details model: full release metadata, the
-- deal set per release, and availability per (track, territory, usage)
-- derived from it. The tables change shape, so the projection replays the
-- log from offset zero: its rows and checkpoints are cleared here.
truncate td_availability, td_tracks, td_releases;
delete from projection_checkpoints where projection = 'track-details';

alter table td_releases
    alter column upc drop not null,
    add column grid text,
    add column catalog_number text not null default '',
    add column version_title text not null default '',
    add column release_type text not null default '',
    add column pline text not null default '',
    add column cline text not null default '',
    add column genre text not null default '',
    add column parental_warning text not null default '',
    add column release_date text not null default '',
    add column deals jsonb not null default '[]',
    add column purged boolean not null default false;
alter table td_releases alter column label set default '';
create unique index td_releases_grid on td_releases (grid);

alter table td_tracks
    add column version_title text not null default '',
    add column pline text not null default '',
    add column parental_warning text not null default '';

drop table td_availability;
create table td_availability (
    track_id        bigint not null references td_tracks (track_id) on delete cascade,
    territory       char(2) not null,
    usage           text not null,
    available_from  timestamptz,
    available_to    timestamptz,
    price_amount    text,
    price_currency  text,
    price_code      text,
    primary key (track_id, territory, usage)
);
