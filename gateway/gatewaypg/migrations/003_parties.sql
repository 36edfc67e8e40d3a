-- The DDEX party ids (DPIDs) a client may deliver as through the ingest
-- service, or '{*}' for any party. Empty: it may not deliver.
alter table api_clients
    add column parties text[] not null default '{}';
