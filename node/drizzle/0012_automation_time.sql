CREATE TABLE `automation_firings` (
	`rule_id` integer NOT NULL,
	`record_id` integer NOT NULL,
	`value` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`rule_id`, `record_id`, `value`)
);
--> statement-breakpoint
CREATE INDEX `automation_firings_at` ON `automation_firings` (`at`);--> statement-breakpoint
CREATE TABLE `automation_queue` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`record_id` integer NOT NULL,
	`via` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `automation_rules` ADD `hook_token` text;--> statement-breakpoint
ALTER TABLE `automation_rules` ADD `checked_until` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `automation_rules_hook` ON `automation_rules` (`hook_token`);