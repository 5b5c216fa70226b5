-- 0001_initial: the whole schema of SQLite's 0001-0004 (ledger, quotas, moderation, audit log,
-- bot state, bot-wide usage, the job's door), plus result images as bytea.
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

-- Images taken from the daily allowance (reserved by jobs in flight plus charged).
CREATE TABLE daily_usage (
    guild_id BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    day      DATE NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (guild_id, user_id, day)
);

-- Every image of the guild that day, allowance and bonus alike (for the guild budget).
CREATE TABLE guild_usage (
    guild_id BIGINT NOT NULL,
    day      DATE NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (guild_id, day)
);

-- Every image of every guild per UTC day, for GLOBAL_DAILY_BUDGET.
CREATE TABLE global_usage (
    day  DATE PRIMARY KEY,
    used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0)
);

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
    reply_to_message_id BIGINT
);

CREATE INDEX jobs_by_member ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_unfinished ON jobs (state, created_at)
    WHERE state IN ('queued', 'submitted', 'running', 'delivering');
CREATE INDEX jobs_by_guild_day ON jobs (guild_id, created_at);

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

CREATE TABLE bot_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
