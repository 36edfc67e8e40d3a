-- Pins: the region that serves a client's API requests, for all its routes
-- (route '') or for the endpoints under a route prefix (/track/details).
-- share: the percentage of the client's daily limit that region counts
-- (null: an equal part of what the named shares leave). Replicated to the
-- regions with api_clients (gatewaypg.Publish), so it has a primary key.
create table api_client_pins (
    key         text not null references api_clients (key) on delete cascade,
    route       text not null,
    region      text not null,
    share       integer check (share between 1 and 100),
    created_at  timestamptz not null default now(),
    primary key (key, route)
);
