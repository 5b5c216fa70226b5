-- 0001_initial: the whole schema of SQLite's 0001-0006 (ledger, quotas, moderation, audit log,
-- bot state, bot-wide usage, the job's door), plus result images as bytea. The guild's and
-- the bot-wide counters are not tables here: they are sums of daily_usage (see below).
-- Shipped migrations are never edited; add 0002_*.sql instead.
-- Times are timestamptz (UTC); days are UTC dates.

CREATE TABLE guild_settings (
    guild_id          BIGINT PRIMARY KEY,
    daily_quota       INTEGER CHECK (daily_quota >= 0),    -- NULL: the bot-wide default
    daily_budget      INTEGER CHECK (daily_budget >= 0),   -- images per UTC day, whole guild; NULL: unlimited
    modlog_channel_id BIGINT,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE member_settings (
    guild_id       BIGINT NOT NULL,
    user_id        BIGINT NOT NULL,
    daily_override INTEGER CHECK (daily_override >= 0),    -- NULL: role allowance or guild default
    bonus          INTEGER NOT NULL DEFAULT 0 CHECK (bonus >= 0),
    blocked        BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE role_allowances (
    guild_id    BIGINT NOT NULL,
    role_id     BIGINT NOT NULL,
    daily_quota INTEGER NOT NULL CHECK (daily_quota >= 0),
    PRIMARY KEY (guild_id, role_id)
);

-- A member's images of a UTC day. ``used``: taken from the daily allowance (reserved by jobs
-- in flight plus charged; a moderator's reset lowers it). ``counted``: every image, allowance
-- and bonus alike, which the guild's and the bot-wide budgets count. The guild's count is
-- the sum of its members' rows and the bot-wide count the sum of all rows of the day, so no
-- single row is updated by every reservation of every process.
CREATE TABLE daily_usage (
    guild_id BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    day      DATE NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    counted  INTEGER NOT NULL DEFAULT 0 CHECK (counted >= 0),
    PRIMARY KEY (guild_id, user_id, day)
);

-- The sums read only that day's rows, from the index alone.
CREATE INDEX daily_usage_by_guild_day ON daily_usage (guild_id, day) INCLUDE (counted);
CREATE INDEX daily_usage_by_day ON daily_usage (day) INCLUDE (counted);

CREATE TABLE blocked_terms (
    guild_id BIGINT NOT NULL,
    term     TEXT NOT NULL,                                 -- casefolded
    added_by BIGINT NOT NULL,
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, term)
);

CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    actor_id   BIGINT NOT NULL,
    action     TEXT NOT NULL,
    target_id  BIGINT,                                      -- the user or role acted on
    before     JSONB,
    after      JSONB,
    reason     TEXT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_log_by_guild ON audit_log (guild_id, id);

CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,                   -- 8 base32 characters, shown to members
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY, -- insertion order, for ties on created_at
    guild_id            BIGINT NOT NULL,
    channel_id          BIGINT NOT NULL,
    user_id             BIGINT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('imagine', 'edit', 'reroll')),
    origin              TEXT NOT NULL CHECK (origin IN ('slash', 'reply', 'context_menu', 'button')),
    parent_job_id       TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    request             TEXT NOT NULL,                      -- GenerationRequest JSON
    state               TEXT NOT NULL CHECK (
        state IN ('queued', 'submitted', 'running', 'delivering', 'done', 'failed', 'cancelled')
    ),
    provider            TEXT,
    task_id             TEXT,
    tried_providers     TEXT[] NOT NULL DEFAULT '{}',       -- for failover
    callback_key        TEXT UNIQUE,                        -- sha256 hex of the current callback secret
    progress            INTEGER CHECK (progress BETWEEN 0 AND 100),
    quota_day           DATE NOT NULL,                      -- the UTC day the reservation was booked on
    reserved_daily      INTEGER NOT NULL CHECK (reserved_daily >= 0),
    reserved_bonus      INTEGER NOT NULL CHECK (reserved_bonus >= 0),
    charged             INTEGER CHECK (charged >= 0 AND charged <= reserved_daily + reserved_bonus),
    error_code          TEXT,
    error_message       TEXT,                               -- safe to show the member
    card_message_id     BIGINT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    submitted_at        TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ,
    upload_limit        INTEGER CHECK (upload_limit IS NULL OR upload_limit > 0),
    reply_to_message_id BIGINT,
    -- lineage (SQLite 0005): which of the parent's images, and what was done to it
    source_index        INTEGER CHECK (source_index IS NULL OR source_index >= 0),
    action              TEXT
);

CREATE INDEX jobs_by_member ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_unfinished ON jobs (state, created_at)
    WHERE state IN ('queued', 'submitted', 'running', 'delivering');
CREATE INDEX jobs_by_guild_day ON jobs (guild_id, created_at);
CREATE INDEX jobs_by_parent ON jobs (parent_job_id, created_at) WHERE parent_job_id IS NOT NULL;

-- Result images of a job, and the message that posted them.
CREATE TABLE job_images (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    url          TEXT,
    filename     TEXT,
    content_type TEXT,
    size         INTEGER,
    message_id   BIGINT,                                    -- the message that carried it, if known
    delivered_at TIMESTAMPTZ,                               -- set once posted: never posted twice
    PRIMARY KEY (job_id, idx)
);

-- The bytes of result images until the job is settled, readable from every host.
CREATE TABLE image_blobs (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (job_id, idx)
);

-- Every Discord message a job posted its results in (the card lives on jobs).
CREATE TABLE job_messages (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    message_id BIGINT NOT NULL,
    PRIMARY KEY (job_id, message_id)
);

-- A member's own /settings defaults per server, and the styles a server's moderators
-- added with /style add (SQLite 0006).
CREATE TABLE member_defaults (
    guild_id    BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    model       TEXT,
    ratio       TEXT,
    resolution  TEXT,
    count       INTEGER CHECK (count IS NULL OR count >= 1),
    style       TEXT,
    private     BOOLEAN,
    spoiler     BOOLEAN,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_styles (
    guild_id    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    template    TEXT NOT NULL,
    added_by    BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, name)
);

CREATE TABLE bot_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- A reservation's first step, in one statement: when the guild has a budget, take the
-- guild's transaction-level advisory lock; then create (if needed) and lock the member's
-- counter of the day and settings: always guild, then member. Every read comes after the
-- locks, so none is stale.
CREATE FUNCTION quota_lock_and_read(g BIGINT, u BIGINT, d DATE,
    OUT guild_used BIGINT, OUT daily_used INTEGER, OUT global_used BIGINT,
    OUT daily_override INTEGER, OUT bonus INTEGER, OUT blocked BOOLEAN,
    OUT guild_quota INTEGER, OUT guild_budget INTEGER, OUT modlog_channel_id BIGINT,
    OUT role_ids BIGINT[], OUT role_quotas INTEGER[], OUT terms TEXT[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT t.daily_quota, t.daily_budget, t.modlog_channel_id
        INTO guild_quota, guild_budget, modlog_channel_id
        FROM guild_settings t WHERE t.guild_id = g;
    IF guild_budget IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('guild-budget:' || g::text, 0));
    END IF;
    INSERT INTO daily_usage (guild_id, user_id, day) VALUES (g, u, d) ON CONFLICT DO NOTHING;
    SELECT t.used INTO daily_used FROM daily_usage t
        WHERE t.guild_id = g AND t.user_id = u AND t.day = d FOR UPDATE;
    INSERT INTO member_settings (guild_id, user_id, updated_at) VALUES (g, u, now())
        ON CONFLICT DO NOTHING;
    SELECT t.daily_override, t.bonus, t.blocked INTO daily_override, bonus, blocked
        FROM member_settings t WHERE t.guild_id = g AND t.user_id = u FOR UPDATE;
    SELECT coalesce(sum(t.counted), 0) INTO guild_used FROM daily_usage t
        WHERE t.guild_id = g AND t.day = d;
    SELECT coalesce(sum(t.counted), 0) INTO global_used FROM daily_usage t WHERE t.day = d;
    SELECT coalesce(array_agg(t.role_id ORDER BY t.role_id), '{}'),
           coalesce(array_agg(t.daily_quota ORDER BY t.role_id), '{}')
        INTO role_ids, role_quotas FROM role_allowances t WHERE t.guild_id = g;
    SELECT coalesce(array_agg(t.term ORDER BY t.term COLLATE "C"), '{}')
        INTO terms FROM blocked_terms t WHERE t.guild_id = g;
END
$$;

-- Whether the guild's images of the day (this transaction's included) fit ``budget``; the
-- guild's advisory lock, taken by quota_lock_and_read, keeps others out until the COMMIT.
CREATE FUNCTION quota_guild_fits(g BIGINT, d DATE, budget INTEGER) RETURNS BOOLEAN
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(sum(t.counted), 0) <= budget FROM daily_usage t
        WHERE t.guild_id = g AND t.day = d;
$$;

-- With a bot-wide budget: queue on one transaction-level advisory lock (taken last, held to
-- the COMMIT), then check the day's sum, which includes this transaction's own images.
CREATE FUNCTION quota_global_fits(d DATE, budget INTEGER) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1592590338);  -- 0x5EED0002
    RETURN (SELECT coalesce(sum(t.counted), 0) FROM daily_usage t WHERE t.day = d) <= budget;
END
$$;
