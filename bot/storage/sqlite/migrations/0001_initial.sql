-- 0001_initial: the job ledger, quotas, moderation settings and the audit log.
-- Shipped migrations are never edited; add 0002_*.sql instead.
-- Times are UTC ISO-8601 text (e.g. 2025-01-31T23:59:59.123456+00:00); days are UTC 'YYYY-MM-DD'.

CREATE TABLE guild_settings (
    guild_id          INTEGER PRIMARY KEY,
    daily_quota       INTEGER CHECK (daily_quota >= 0),    -- NULL: the bot-wide default
    daily_budget      INTEGER CHECK (daily_budget >= 0),   -- images per UTC day, whole guild; NULL: unlimited
    modlog_channel_id INTEGER,
    updated_at        TEXT NOT NULL
) STRICT;

CREATE TABLE member_settings (
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    daily_override INTEGER CHECK (daily_override >= 0),    -- NULL: role allowance or guild default
    bonus          INTEGER NOT NULL DEFAULT 0 CHECK (bonus >= 0),
    blocked        INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE role_allowances (
    guild_id    INTEGER NOT NULL,
    role_id     INTEGER NOT NULL,
    daily_quota INTEGER NOT NULL CHECK (daily_quota >= 0),
    PRIMARY KEY (guild_id, role_id)
) STRICT, WITHOUT ROWID;

-- Images taken from the daily allowance (reserved by jobs in flight plus charged).
CREATE TABLE daily_usage (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    day      TEXT NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (guild_id, user_id, day)
) STRICT, WITHOUT ROWID;

-- Every image of the guild that day, allowance and bonus alike (for the guild budget).
CREATE TABLE guild_usage (
    guild_id INTEGER NOT NULL,
    day      TEXT NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (guild_id, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE blocked_terms (
    guild_id INTEGER NOT NULL,
    term     TEXT NOT NULL,                                 -- casefolded
    added_by INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, term)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    actor_id   INTEGER NOT NULL,
    action     TEXT NOT NULL,
    target_id  INTEGER,                                     -- the user or role acted on
    before     TEXT,                                        -- JSON
    after      TEXT,                                        -- JSON
    reason     TEXT,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_by_guild ON audit_log (guild_id, id);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,                       -- 8 base32 characters, shown to members
    guild_id        INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('imagine', 'edit', 'reroll')),
    origin          TEXT NOT NULL CHECK (origin IN ('slash', 'reply', 'context_menu', 'button')),
    parent_job_id   TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    request         TEXT NOT NULL,                          -- GenerationRequest JSON
    state           TEXT NOT NULL CHECK (
        state IN ('queued', 'submitted', 'running', 'delivering', 'done', 'failed', 'cancelled')
    ),
    provider        TEXT,                                   -- the provider serving (or that served) it
    task_id         TEXT,
    tried_providers TEXT NOT NULL DEFAULT '[]',             -- JSON list, for failover
    callback_key    TEXT UNIQUE,                            -- sha256 hex of the current callback secret
    progress        INTEGER CHECK (progress BETWEEN 0 AND 100),
    quota_day       TEXT NOT NULL,                          -- the UTC day the reservation was booked on
    reserved_daily  INTEGER NOT NULL CHECK (reserved_daily >= 0),
    reserved_bonus  INTEGER NOT NULL CHECK (reserved_bonus >= 0),
    charged         INTEGER CHECK (charged >= 0 AND charged <= reserved_daily + reserved_bonus),
    error_code      TEXT,
    error_message   TEXT,                                   -- safe to show the member
    card_message_id INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    submitted_at    TEXT,
    finished_at     TEXT
) STRICT;

CREATE INDEX jobs_by_member ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_unfinished ON jobs (state, created_at)
    WHERE state IN ('queued', 'submitted', 'running', 'delivering');
CREATE INDEX jobs_by_guild_day ON jobs (guild_id, created_at);

-- Result images: where the bytes wait on disk until posted, and the message that posted them.
CREATE TABLE job_images (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    url          TEXT,
    filename     TEXT,                                      -- under <db dir>/images/<job_id>/
    content_type TEXT,
    size         INTEGER,
    message_id   INTEGER,                                   -- the message that carried it, if known
    delivered_at TEXT,                                      -- set once posted: never posted twice
    PRIMARY KEY (job_id, idx)
) STRICT, WITHOUT ROWID;

-- Every Discord message a job posted its results in (the card lives on jobs).
CREATE TABLE job_messages (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (job_id, message_id)
) STRICT, WITHOUT ROWID;
