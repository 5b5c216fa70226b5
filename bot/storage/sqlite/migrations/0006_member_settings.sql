-- 0006_member_settings: a member's own /settings defaults per server, and the styles a
-- server's moderators added with /style add. (member_settings is the moderators' table.)
CREATE TABLE member_defaults (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    model       TEXT,
    ratio       TEXT,
    resolution  TEXT,
    count       INTEGER CHECK (count IS NULL OR count >= 1),
    style       TEXT,
    private     INTEGER CHECK (private IS NULL OR private IN (0, 1)),
    spoiler     INTEGER CHECK (spoiler IS NULL OR spoiler IN (0, 1)),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_styles (
    guild_id    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    template    TEXT NOT NULL,
    added_by    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, name)
);
