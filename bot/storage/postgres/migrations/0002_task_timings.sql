-- 0002_task_timings: how long provider tasks took, a short rolling history per provider, model,
-- resolution and image count (bot.jobs.timing places polls and estimates finish times from
-- it); shared by every process, as SQLite's 0007.
CREATE TABLE task_timings (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    resolution  TEXT NOT NULL,
    image_count INTEGER NOT NULL,
    seconds     DOUBLE PRECISION NOT NULL CHECK (seconds >= 0),
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX task_timings_by_kind
    ON task_timings (provider, model, resolution, image_count, id);
