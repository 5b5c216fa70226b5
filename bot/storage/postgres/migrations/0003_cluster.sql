-- The fair waiting line shared by every process (bot/jobs/fair_line.py): waiting jobs per
-- member in arrival order, the members' turns (round-robin), and the jobs in flight with
-- the provider slot each holds. Changed only under the fair line's advisory lock.
CREATE SEQUENCE cluster_arrival_seq;
CREATE SEQUENCE cluster_turn_seq;

CREATE TABLE cluster_waiting (
    job_id text PRIMARY KEY,
    user_id bigint NOT NULL,
    provider text NOT NULL,
    arrival bigint NOT NULL DEFAULT nextval('cluster_arrival_seq')
);
CREATE INDEX cluster_waiting_member ON cluster_waiting (user_id, arrival);

-- a member has a turn while they have waiting jobs; the lowest turn is served first
CREATE TABLE cluster_turns (
    user_id bigint PRIMARY KEY,
    turn bigint NOT NULL
);

CREATE TABLE cluster_flights (
    job_id text PRIMARY KEY,
    user_id bigint NOT NULL,
    -- NULL once the job no longer needs its provider (delivering)
    provider text,
    admitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cluster_flights_member ON cluster_flights (user_id);
CREATE INDEX cluster_flights_provider ON cluster_flights (provider);
