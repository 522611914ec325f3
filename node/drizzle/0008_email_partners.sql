CREATE TABLE `ochat_email_sends` (
	`message_id` integer PRIMARY KEY NOT NULL,
	`channel_id` integer NOT NULL,
	`mail_id` integer NOT NULL,
	`email_to` text NOT NULL,
	`email_status` text NOT NULL,
	`email_error` text,
	`email_code` integer,
	`email_attempts` integer DEFAULT 0 NOT NULL,
	`email_queued_at` integer NOT NULL,
	`email_next_at` integer,
	`email_sent_at` integer
);
--> statement-breakpoint
CREATE INDEX `ochat_email_sends_due` ON `ochat_email_sends` (`email_next_at`) WHERE "ochat_email_sends"."email_status" = 'queued';--> statement-breakpoint
CREATE INDEX `ochat_email_sends_mail` ON `ochat_email_sends` (`mail_id`);--> statement-breakpoint
ALTER TABLE `ochat_connections` ADD `transport` text DEFAULT 'relay' NOT NULL;--> statement-breakpoint
ALTER TABLE `ochat_connections` ADD `email_address` text;--> statement-breakpoint
CREATE UNIQUE INDEX `ochat_connections_email` ON `ochat_connections` (`email_address`);--> statement-breakpoint
ALTER TABLE `ochat_messages` ADD `email_message_id` text;--> statement-breakpoint
CREATE INDEX `ochat_messages_email_id` ON `ochat_messages` (`email_message_id`) WHERE "ochat_messages"."email_message_id" is not null;