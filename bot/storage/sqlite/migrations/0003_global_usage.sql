-- 0003_global_usage: every image of every guild per UTC day, for GLOBAL_DAILY_BUDGET.
-- Moved in the same transactions as guild_usage, so it always equals that day's sum.
CREATE TABLE global_usage (
    day  TEXT PRIMARY KEY,
    used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0)
) STRICT, WITHOUT ROWID;

-- Jobs reserved before this migration refund into this counter too: start from the sums.
INSERT INTO global_usage (day, used) SELECT day, sum(used) FROM guild_usage GROUP BY day;
