-- 0007_task_timings: how long provider tasks took, a short rolling history per provider, model,
-- resolution and image count (bot.jobs.timing places polls and estimates finish times from it).
CREATE TABLE task_timings (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    resolution  TEXT NOT NULL,
    image_count INTEGER NOT NULL,
    seconds     REAL NOT NULL CHECK (seconds >= 0),
    recorded_at TEXT NOT NULL
) STRICT;

CREATE INDEX task_timings_by_kind
    ON task_timings (provider, model, resolution, image_count, id);
