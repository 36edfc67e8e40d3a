-- API clients: who may call the public API.
create table api_clients (
    key         text primary key,
    name        text not null,
    enabled     boolean not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
