ALTER TABLE `ochat_identity` ADD `pending_secret_keys` text;--> statement-breakpoint
ALTER TABLE `ochat_identity` ADD `previous_secret_keys` text;--> statement-breakpoint
ALTER TABLE `ochat_identity` ADD `previous_keys_until` integer;