CREATE TABLE `login_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`login` text NOT NULL,
	`address` text NOT NULL,
	`user_agent` text,
	`throttled` integer NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `login_attempts_at` ON `login_attempts` (`at`);--> statement-breakpoint
CREATE TABLE `node_secrets` (
	`name` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
-- Reading model definitions now needs models:read. Keys made before could read them with any scope;
-- those that work with records keep doing so.
UPDATE `api_keys` SET `scopes` = json_insert(`scopes`, '$[#]', 'models:read')
WHERE EXISTS (SELECT 1 FROM json_each(`api_keys`.`scopes`) WHERE `value` IN ('records:read', 'records:write'))
  AND NOT EXISTS (SELECT 1 FROM json_each(`api_keys`.`scopes`) WHERE `value` = 'models:read');
