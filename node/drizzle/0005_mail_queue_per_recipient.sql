DROP INDEX `outgoing_mail_queue`;--> statement-breakpoint
ALTER TABLE `outgoing_mail` DROP COLUMN `status`;--> statement-breakpoint
ALTER TABLE `outgoing_mail` DROP COLUMN `attempts`;--> statement-breakpoint
ALTER TABLE `outgoing_mail` DROP COLUMN `next_attempt_at`;--> statement-breakpoint
ALTER TABLE `outgoing_mail` DROP COLUMN `last_error`;--> statement-breakpoint
ALTER TABLE `outgoing_mail` DROP COLUMN `sent_at`;--> statement-breakpoint
ALTER TABLE `notifications` ADD `email_queued_at` integer;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_queued_at` integer;--> statement-breakpoint
UPDATE `notifications` SET `email_queued_at` = `email_next_at` WHERE `channel` = 'email' AND `email_status` = 'queued';--> statement-breakpoint
UPDATE `ochat_notifications` SET `email_queued_at` = `email_next_at` WHERE `channel` = 'email' AND `email_status` = 'queued';
