-- VACUUM ends by cutting empty pages off the end of a table, and for that takes an ACCESS EXCLUSIVE
-- lock, which stops every statement on the table while it checks those pages. The queue is touched by
-- every submit, claim and acknowledgement, the nonces by every signed request; their space is reused
-- in place instead of being given back to the filesystem. Applies to the relay's own VACUUM passes and
-- to a server's autovacuum alike.
ALTER TABLE "queue" SET (vacuum_truncate = false);--> statement-breakpoint
ALTER TABLE "nonces" SET (vacuum_truncate = false);
