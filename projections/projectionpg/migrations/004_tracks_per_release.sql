-- A track row is a track id on a release: a log written before track ids
-- became per release (docs/events.md) can carry one id on several
-- releases, and each release keeps its own row for it. Every existing
-- generation's tracks table is re-keyed in place; createGeneration makes
-- new ones that way.
do $$
declare
    sc text;
begin
    for sc in select nspname from pg_namespace where nspname ~ '^td_g[0-9]+$' loop
        execute format('alter table %I.tracks drop constraint if exists tracks_pkey', sc);
        execute format('alter table %I.tracks add primary key (track_id, release_id)', sc);
    end loop;
end
$$;
