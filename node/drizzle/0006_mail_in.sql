CREATE TABLE `incoming_mails` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`email_message_id` text,
	`sender` text,
	`subject` text,
	`via` text NOT NULL,
	`outcome` text NOT NULL,
	`reason` text,
	`record_id` integer,
	`message_id` integer,
	`alias_id` integer,
	`size` integer NOT NULL,
	`raw_file` text,
	`raw_expires_at` integer,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `incoming_mails_message_id` ON `incoming_mails` (`email_message_id`);--> statement-breakpoint
CREATE INDEX `incoming_mails_sender` ON `incoming_mails` (`sender`,`received_at`);--> statement-breakpoint
CREATE INDEX `incoming_mails_outcome` ON `incoming_mails` (`outcome`,`id`);--> statement-breakpoint
CREATE INDEX `incoming_mails_raw_expiry` ON `incoming_mails` (`raw_expires_at`) WHERE "incoming_mails"."raw_file" is not null;--> statement-breakpoint
CREATE TABLE `mail_aliases` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`model_id` integer NOT NULL,
	`record_id` integer,
	`defaults` text DEFAULT '{}' NOT NULL,
	`contact_policy` text DEFAULT 'partners' NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` integer,
	FOREIGN KEY (`model_id`) REFERENCES `models`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`record_id`) REFERENCES `records`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `mail_aliases_name_unique` ON `mail_aliases` (`name`);--> statement-breakpoint
-- A node made before email came in gets the base aliases here; a new node gets them with its models.
INSERT INTO `mail_aliases` (`name`, `model_id`, `contact_policy`, `created_at`)
  SELECT 'sales', `id`, 'partners', cast(strftime('%s', 'now') as integer) * 1000 FROM `models` WHERE `name` = 'lead';--> statement-breakpoint
INSERT INTO `mail_aliases` (`name`, `model_id`, `contact_policy`, `created_at`)
  SELECT 'support', `id`, 'partners', cast(strftime('%s', 'now') as integer) * 1000 FROM `models` WHERE `name` = 'ticket';
