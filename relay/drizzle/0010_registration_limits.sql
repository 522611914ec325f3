CREATE TABLE "rate_windows" (
	"kind" text NOT NULL,
	"key" text NOT NULL,
	"window_start" bigint NOT NULL,
	"count" integer NOT NULL,
	CONSTRAINT "rate_windows_kind_key_window_start_pk" PRIMARY KEY("kind","key","window_start")
);
--> statement-breakpoint
ALTER TABLE "instances" ADD COLUMN "registered_from" text;--> statement-breakpoint
CREATE INDEX "rate_windows_window_start" ON "rate_windows" USING btree ("window_start");