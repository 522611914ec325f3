CREATE TABLE `automation_rules` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`model_id` integer NOT NULL,
	`trigger` text NOT NULL,
	`before` text,
	`after` text,
	`actions` text NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`sequence` integer DEFAULT 10 NOT NULL,
	`created_by` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `automation_rules_model` ON `automation_rules` (`model_id`,`sequence`,`id`);--> statement-breakpoint
CREATE TABLE `automation_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`rule_id` integer NOT NULL,
	`record_id` integer,
	`trigger` text NOT NULL,
	`outcome` text NOT NULL,
	`detail` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `automation_runs_rule` ON `automation_runs` (`rule_id`,`id`);--> statement-breakpoint
CREATE INDEX `automation_runs_failed` ON `automation_runs` (`id`) WHERE "automation_runs"."outcome" = 'failed';--> statement-breakpoint
DROP INDEX `webhook_messages_due`;--> statement-breakpoint
CREATE INDEX `webhook_messages_due` ON `webhook_messages` (`endpoint_id`,`next_attempt_at`,`id`) WHERE "webhook_messages"."status" = 'pending';--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `last_failure_at` integer;