CREATE TABLE `activity_plan_steps` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`plan_id` integer NOT NULL,
	`sequence` integer DEFAULT 10 NOT NULL,
	`activity_type_id` integer NOT NULL,
	`summary` text,
	`note` text,
	`assignee` text DEFAULT 'default' NOT NULL,
	`user_id` integer,
	`delay_count` integer DEFAULT 0 NOT NULL,
	`delay_unit` text DEFAULT 'days' NOT NULL,
	`delay_from` text DEFAULT 'after_plan_date' NOT NULL,
	FOREIGN KEY (`plan_id`) REFERENCES `activity_plans`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`activity_type_id`) REFERENCES `activity_types`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `activity_plan_steps_plan` ON `activity_plan_steps` (`plan_id`,`sequence`,`id`);--> statement-breakpoint
CREATE TABLE `activity_plans` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`model_id` integer,
	`active` integer DEFAULT true NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`model_id`) REFERENCES `models`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `partner_avatars` (
	`partner_id` integer PRIMARY KEY NOT NULL,
	`mime` text NOT NULL,
	`bytes` blob NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`partner_id`) REFERENCES `partners`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
-- Activity type icons become names of the UI's SVG icons: emoji render as empty boxes without an emoji font.
UPDATE `activity_types` SET `icon` = CASE `icon`
	WHEN '☑️' THEN 'square-check'
	WHEN '📞' THEN 'phone'
	WHEN '📅' THEN 'calendar'
	WHEN '✉️' THEN 'mail'
	WHEN '📄' THEN 'file-up'
	WHEN '✍️' THEN 'signature'
	ELSE 'square-check'
END;
