-- 0004_job_door: what the door knew, kept with the job so a resumed job posts the same way:
-- the upload limit where the member asked, and the message its card replies to.
ALTER TABLE jobs ADD COLUMN upload_limit INTEGER CHECK (upload_limit IS NULL OR upload_limit > 0);
ALTER TABLE jobs ADD COLUMN reply_to_message_id INTEGER;
