CREATE TABLE `mail_settings` (
	`id` integer PRIMARY KEY NOT NULL,
	`smtp_host` text,
	`smtp_port` integer,
	`smtp_security` text DEFAULT 'starttls' NOT NULL,
	`smtp_user` text,
	`smtp_password` text,
	`from_address` text,
	`mail_domain` text,
	`updated_at` integer NOT NULL,
	`updated_by` integer
);
--> statement-breakpoint
ALTER TABLE `messages` ADD `parent_id` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `email_message_id` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `email_from` text;--> statement-breakpoint
CREATE UNIQUE INDEX `messages_email_message_id` ON `messages` (`email_message_id`) WHERE "messages"."email_message_id" is not null;--> statement-breakpoint
ALTER TABLE `notifications` ADD `email_code` integer;--> statement-breakpoint
ALTER TABLE `notifications` ADD `email_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `notifications` ADD `email_next_at` integer;--> statement-breakpoint
ALTER TABLE `notifications` ADD `email_sent_at` integer;--> statement-breakpoint
CREATE INDEX `notifications_email_due` ON `notifications` (`email_next_at`) WHERE "notifications"."channel" = 'email' and "notifications"."email_status" = 'queued';--> statement-breakpoint
ALTER TABLE `outgoing_mail` ADD `kind` text DEFAULT 'message' NOT NULL;--> statement-breakpoint
ALTER TABLE `outgoing_mail` ADD `email_message_id` text;--> statement-breakpoint
ALTER TABLE `partners` ADD `email_bounces` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `digest` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `digest_hour` integer DEFAULT 8 NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `digest_sent_on` text;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_to` text;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_status` text;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_error` text;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_code` integer;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_next_at` integer;--> statement-breakpoint
ALTER TABLE `ochat_notifications` ADD `email_sent_at` integer;--> statement-breakpoint
CREATE INDEX `ochat_notifications_email_due` ON `ochat_notifications` (`email_next_at`) WHERE "ochat_notifications"."channel" = 'email' and "ochat_notifications"."email_status" = 'queued';--> statement-breakpoint
-- Emails queued before the node could send them: due now when at most two days old (the retry
-- window), canceled when older, rather than reaching people long after the fact.
UPDATE `notifications` SET `email_next_at` = `created_at` WHERE `channel` = 'email' AND `email_status` = 'queued' AND `created_at` >= CAST(strftime('%s', 'now') AS integer) * 1000 - 172800000;--> statement-breakpoint
UPDATE `notifications` SET `email_status` = 'canceled', `email_error` = 'queued more than two days before email sending was set up' WHERE `channel` = 'email' AND `email_status` = 'queued' AND `email_next_at` IS NULL;--> statement-breakpoint
UPDATE `ochat_notifications` SET `email_to` = (SELECT p.`email` FROM `users` u JOIN `partners` p ON p.`id` = u.`partner_id` WHERE u.`id` = `ochat_notifications`.`user_id`), `email_status` = 'queued', `email_next_at` = (SELECT m.`created_at` FROM `outgoing_mail` m WHERE m.`id` = `ochat_notifications`.`mail_id`) WHERE `channel` = 'email';--> statement-breakpoint
UPDATE `ochat_notifications` SET `email_status` = 'canceled', `email_error` = 'queued more than two days before email sending was set up' WHERE `channel` = 'email' AND (`email_next_at` IS NULL OR `email_next_at` < CAST(strftime('%s', 'now') AS integer) * 1000 - 172800000);--> statement-breakpoint
UPDATE `outgoing_mail` SET `kind` = 'ochat' WHERE `id` IN (SELECT `mail_id` FROM `ochat_notifications` WHERE `mail_id` IS NOT NULL);--> statement-breakpoint
UPDATE `outgoing_mail` SET `kind` = 'activity' WHERE `message_id` IS NULL AND `activity_id` IS NOT NULL;--> statement-breakpoint
DROP VIEW `email_notifications`;--> statement-breakpoint
CREATE VIEW `email_notifications` AS select n.id, n.mail_id, n.partner_id, n.record_id, n.message_id, n.activity_id, n.email_to,
             n.email_status as status, n.email_error as last_error, n.email_attempts as attempts,
             n.email_code as code, n.email_sent_at as sent_at, m.subject, m.body, n.created_at
        from "notifications" n join "outgoing_mail" m on m.id = n.mail_id;