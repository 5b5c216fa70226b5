-- 0005_lineage: where a job came from. parent_job_id (0001) names the parent job; these say
-- which of its images (0-based) and what was done to it (reroll, edit, vary_subtle,
-- vary_strong, 4k, reference, remix). The index finds a job's children for /status.
ALTER TABLE jobs ADD COLUMN source_index INTEGER CHECK (source_index IS NULL OR source_index >= 0);
ALTER TABLE jobs ADD COLUMN action TEXT;
CREATE INDEX jobs_by_parent ON jobs (parent_job_id, created_at) WHERE parent_job_id IS NOT NULL;
