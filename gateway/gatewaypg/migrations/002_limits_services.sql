-- Per-client daily request limit and the services a client may call
-- (catalogue, identifiers, ingest, admin).
alter table api_clients
    add column daily_limit integer not null default 4000 check (daily_limit >= 0),
    add column services text[] not null default '{catalogue}';
