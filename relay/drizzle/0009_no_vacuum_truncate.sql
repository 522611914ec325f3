-- VACUUM ends by cutting empty pages off the end of a table, and for that holds an ACCESS EXCLUSIVE lock,
-- which stops every statement on the table until it is done. On the queue, which every submit, claim
-- and acknowledgement touches, that stopped deliveries for seconds: in the O'Chat bench a paced VACUUM
-- of the queue (9 s) held the receipts' statements for 4.1-4.3 s (PostgreSQL log). The queue's space is
-- reused without giving it back to the filesystem; nonces are touched by every signed request. Applies
-- to the relay's own VACUUM passes and to a server's autovacuum alike.
ALTER TABLE "queue" SET (vacuum_truncate = false);--> statement-breakpoint
ALTER TABLE "nonces" SET (vacuum_truncate = false);
