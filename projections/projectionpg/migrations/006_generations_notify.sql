-- Every change to a projection's generations (a rebuild started, paused,
-- resumed, cancelled, swapped in, an in-place reset) is announced on the
-- channel catalog_projection_generations with the projection's name, so
-- projectors start and stop their consumers at once instead of at their
-- next look. A change made by hand in SQL is announced the same way. The
-- notification is sent when the transaction commits, never before.
create function catalog_projection_generations_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('catalog_projection_generations', coalesce(new.projection, old.projection));
    return null;
end;
$$;

create trigger projection_generations_notify
    after insert or update or delete on projection_generations
    for each row execute function catalog_projection_generations_notify();
