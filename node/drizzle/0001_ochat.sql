CREATE TABLE `ochat_bulk_sends` (
	`id` text PRIMARY KEY NOT NULL,
	`author_user_id` integer NOT NULL,
	`html` text NOT NULL,
	`recipients` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ochat_channel_members` (
	`channel_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`added_at` integer NOT NULL,
	PRIMARY KEY(`channel_id`, `user_id`)
);
--> statement-breakpoint
CREATE INDEX `ochat_channel_members_user` ON `ochat_channel_members` (`user_id`);--> statement-breakpoint
CREATE TABLE `ochat_channels` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`connection_id` text NOT NULL,
	`last_activity_at` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ochat_channels_connection_id_unique` ON `ochat_channels` (`connection_id`);--> statement-breakpoint
CREATE INDEX `ochat_channels_activity` ON `ochat_channels` (`last_activity_at`);--> statement-breakpoint
CREATE TABLE `ochat_connections` (
	`id` text PRIMARY KEY NOT NULL,
	`peer_instance_id` text NOT NULL,
	`peer_name` text NOT NULL,
	`direction` text NOT NULL,
	`state` text NOT NULL,
	`message` text NOT NULL,
	`history` text NOT NULL,
	`contact_partner_id` integer,
	`peer_keys` text NOT NULL,
	`pinned_keys` text NOT NULL,
	`key_changed_at` integer,
	`verified_at` integer,
	`verified_by` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`synced_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ochat_connections_peer` ON `ochat_connections` (`peer_instance_id`);--> statement-breakpoint
CREATE TABLE `ochat_files` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` integer NOT NULL,
	`position` integer NOT NULL,
	`attachment_id` integer,
	`name` text NOT NULL,
	`mime_type` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`blob_id` text,
	`sealed_key` text,
	`state` text NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `ochat_files_message` ON `ochat_files` (`message_id`,`position`);--> statement-breakpoint
CREATE TABLE `ochat_identity` (
	`id` integer PRIMARY KEY NOT NULL,
	`relay_url` text NOT NULL,
	`relay_id` text NOT NULL,
	`relay_name` text NOT NULL,
	`pinned_key_set` text NOT NULL,
	`instance_id` text NOT NULL,
	`name` text NOT NULL,
	`identity_public_key` text NOT NULL,
	`encryption_public_key` text NOT NULL,
	`sealed_secret_keys` text NOT NULL,
	`webhook_url` text,
	`relay_status` text NOT NULL,
	`last_error` text,
	`last_contact_at` integer,
	`registered_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ochat_messages` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`channel_id` integer NOT NULL,
	`direction` text NOT NULL,
	`envelope_id` text NOT NULL,
	`author_user_id` integer,
	`author_name` text NOT NULL,
	`author_company` text NOT NULL,
	`html` text NOT NULL,
	`record_id` integer,
	`peer_record` text,
	`in_reply_to` text,
	`bulk_id` text,
	`status` text NOT NULL,
	`seq` integer,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`delivered_at` integer,
	`read_at` integer,
	`failed_at` integer,
	`next_attempt_at` integer,
	`status_reason` text,
	`retrying_at` integer,
	`outbox_attempts` integer DEFAULT 0 NOT NULL,
	`outbox_due_at` integer,
	`opened_at` integer,
	`read_receipt` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ochat_messages_envelope` ON `ochat_messages` (`channel_id`,`direction`,`envelope_id`);--> statement-breakpoint
CREATE INDEX `ochat_messages_channel` ON `ochat_messages` (`channel_id`,`id`);--> statement-breakpoint
CREATE INDEX `ochat_messages_outbox` ON `ochat_messages` (`outbox_due_at`) WHERE "ochat_messages"."outbox_due_at" is not null;--> statement-breakpoint
CREATE INDEX `ochat_messages_read_due` ON `ochat_messages` (`channel_id`) WHERE "ochat_messages"."read_receipt" = 'due';--> statement-breakpoint
CREATE INDEX `ochat_messages_record` ON `ochat_messages` (`record_id`) WHERE "ochat_messages"."record_id" is not null;--> statement-breakpoint
CREATE INDEX `ochat_messages_bulk` ON `ochat_messages` (`bulk_id`) WHERE "ochat_messages"."bulk_id" is not null;--> statement-breakpoint
CREATE TABLE `ochat_notifications` (
	`message_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`channel_id` integer NOT NULL,
	`channel` text NOT NULL,
	`mail_id` integer,
	`read_at` integer,
	PRIMARY KEY(`message_id`, `user_id`)
);
--> statement-breakpoint
CREATE INDEX `ochat_notifications_unread` ON `ochat_notifications` (`user_id`,`channel_id`) WHERE "ochat_notifications"."read_at" is null;--> statement-breakpoint
CREATE TABLE `ochat_webhook_nonces` (
	`key` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
