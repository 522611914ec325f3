CREATE TABLE "blob_grants" (
	"blob_id" uuid NOT NULL,
	"instance_id" text NOT NULL,
	"envelope_id" uuid NOT NULL,
	"granted_at" bigint NOT NULL,
	"fetched_at" bigint,
	CONSTRAINT "blob_grants_blob_id_instance_id_pk" PRIMARY KEY("blob_id","instance_id")
);
--> statement-breakpoint
CREATE TABLE "blobs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"uploader" text NOT NULL,
	"size" bigint NOT NULL,
	"sha256" text,
	"upload_token_hash" text,
	"state" text NOT NULL,
	"created_at" bigint NOT NULL,
	"completed_at" bigint,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "connection_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"connection_id" uuid NOT NULL,
	"action" text NOT NULL,
	"state" text NOT NULL,
	"by" text NOT NULL,
	"at" bigint NOT NULL,
	"note" text
);
--> statement-breakpoint
CREATE TABLE "connections" (
	"id" uuid PRIMARY KEY NOT NULL,
	"requester" text NOT NULL,
	"addressee" text NOT NULL,
	"state" text NOT NULL,
	"message" text DEFAULT '' NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	"requester_seq" bigint DEFAULT 0 NOT NULL,
	"addressee_seq" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "destinations" (
	"instance_id" text PRIMARY KEY NOT NULL,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"open_until" bigint,
	"last_error" text,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "envelopes" (
	"id" uuid PRIMARY KEY NOT NULL,
	"sender" text NOT NULL,
	"recipient" text NOT NULL,
	"connection_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"size" integer NOT NULL,
	"status" text NOT NULL,
	"accepted_at" bigint NOT NULL,
	"delivered_at" bigint,
	"read_at" bigint,
	"failed_at" bigint,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "instances" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"identity_key" text NOT NULL,
	"encryption_key" text NOT NULL,
	"webhook_url" text,
	"status" text DEFAULT 'active' NOT NULL,
	"registered_at" bigint NOT NULL,
	"keys_rotated_at" bigint
);
--> statement-breakpoint
CREATE TABLE "invites" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"note" text DEFAULT '' NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL,
	"used_at" bigint,
	"used_by" text
);
--> statement-breakpoint
CREATE TABLE "leases" (
	"instance_id" text PRIMARY KEY NOT NULL,
	"replica_id" text NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nonces" (
	"key" text PRIMARY KEY NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "queue" (
	"qid" bigserial PRIMARY KEY NOT NULL,
	"destination" text NOT NULL,
	"item_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"connection_id" uuid,
	"body" text NOT NULL,
	"created_at" bigint NOT NULL,
	"deadline_at" bigint NOT NULL,
	"next_attempt_at" bigint NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"claimed_by" text,
	"claimed_until" bigint
);
--> statement-breakpoint
CREATE INDEX "blobs_expires_at" ON "blobs" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "connection_history_connection" ON "connection_history" USING btree ("connection_id");--> statement-breakpoint
CREATE UNIQUE INDEX "connections_live_pair" ON "connections" USING btree (least("requester", "addressee"),greatest("requester", "addressee")) WHERE "connections"."state" in ('pending', 'accepted');--> statement-breakpoint
CREATE INDEX "connections_requester" ON "connections" USING btree ("requester");--> statement-breakpoint
CREATE INDEX "connections_addressee" ON "connections" USING btree ("addressee");--> statement-breakpoint
CREATE INDEX "envelopes_accepted_at" ON "envelopes" USING btree ("accepted_at");--> statement-breakpoint
CREATE INDEX "nonces_expires_at" ON "nonces" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "queue_destination_item" ON "queue" USING btree ("destination","item_id","kind");--> statement-breakpoint
CREATE INDEX "queue_destination_qid" ON "queue" USING btree ("destination","qid");--> statement-breakpoint
CREATE INDEX "queue_deadline" ON "queue" USING btree ("deadline_at");--> statement-breakpoint
CREATE INDEX "queue_connection" ON "queue" USING btree ("connection_id");