-- The view reads notifications, which is rebuilt here: SQLite refuses the rename while the view names it.
DROP VIEW `email_notifications`;--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_notifications` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`partner_id` integer NOT NULL,
	`record_id` integer,
	`message_id` integer,
	`activity_id` integer,
	`reason` text NOT NULL,
	`channel` text NOT NULL,
	`user_id` integer,
	`mail_id` integer,
	`email_to` text,
	`email_status` text,
	`email_error` text,
	`email_code` integer,
	`email_attempts` integer DEFAULT 0 NOT NULL,
	`email_queued_at` integer,
	`email_next_at` integer,
	`email_sent_at` integer,
	`read_at` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_notifications`("id", "partner_id", "record_id", "message_id", "activity_id", "reason", "channel", "user_id", "mail_id", "email_to", "email_status", "email_error", "email_code", "email_attempts", "email_queued_at", "email_next_at", "email_sent_at", "read_at", "created_at") SELECT "id", "partner_id", "record_id", "message_id", "activity_id", "reason", "channel", "user_id", "mail_id", "email_to", "email_status", "email_error", "email_code", "email_attempts", "email_queued_at", "email_next_at", "email_sent_at", "read_at", "created_at" FROM `notifications`;--> statement-breakpoint
-- The copy's counter must go on from the old table's, not from its highest id left: a bounce token
-- names a notification id, and an id given twice would send a late report to someone else's email.
INSERT INTO `sqlite_sequence` (`name`, `seq`)
  SELECT '__new_notifications', 0 WHERE NOT EXISTS (SELECT 1 FROM `sqlite_sequence` WHERE `name` = '__new_notifications');--> statement-breakpoint
UPDATE `sqlite_sequence` SET `seq` = max(`seq`, coalesce((SELECT `seq` FROM `sqlite_sequence` WHERE `name` = 'notifications'), 0))
  WHERE `name` = '__new_notifications';--> statement-breakpoint
DROP TABLE `notifications`;--> statement-breakpoint
ALTER TABLE `__new_notifications` RENAME TO `notifications`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `notifications_inbox` ON `notifications` (`partner_id`,`id`,`read_at`,`record_id`) WHERE "notifications"."channel" = 'inbox';--> statement-breakpoint
CREATE INDEX `notifications_record` ON `notifications` (`record_id`);--> statement-breakpoint
CREATE INDEX `notifications_mail` ON `notifications` (`mail_id`) WHERE "notifications"."mail_id" is not null;--> statement-breakpoint
CREATE INDEX `notifications_email_due` ON `notifications` (`email_next_at`) WHERE "notifications"."channel" = 'email' and "notifications"."email_status" = 'queued';--> statement-breakpoint
ALTER TABLE `partners` ADD `from_mail` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE VIEW `email_notifications` AS select n.id, n.mail_id, n.partner_id, n.record_id, n.message_id, n.activity_id, n.email_to,
             n.email_status as status, n.email_error as last_error, n.email_attempts as attempts,
             n.email_code as code, n.email_sent_at as sent_at, m.subject, m.body, n.created_at
        from "notifications" n join "outgoing_mail" m on m.id = n.mail_id;
