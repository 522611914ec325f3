-- The two statements of the delivery hot path (ochat_submit_envelopes, 0004, and ochat_accept_receipts,
-- 0003) are planned once per database session instead of on every call. Planning either one cost about
-- as much as running it for a batch of twenty envelopes: 1.2-1.6 ms of PostgreSQL CPU per batch here.
--
-- A plan kept for the session must not depend on how large the tables were when it was made: a plan
-- made while `envelopes` or `queue` was small would scan them whole once they are large. Every table
-- these functions read is read by a key on an index (envelopes by id, queue by (destination, item id)
-- and by qid, connections by id and by pair), so with sequential scans off the plan is the same whatever
-- the statistics say. Their json inputs have fixed estimates, so the rest of the plan never depended on
-- the arguments either.
alter function ochat_submit_envelopes(json, text, json, json, text, bigint, bigint, bigint)
  set plan_cache_mode = force_generic_plan;
--> statement-breakpoint
alter function ochat_submit_envelopes(json, text, json, json, text, bigint, bigint, bigint)
  set enable_seqscan = off;
--> statement-breakpoint
alter function ochat_accept_receipts(json, json, text, bigint, bigint, bigint)
  set plan_cache_mode = force_generic_plan;
--> statement-breakpoint
alter function ochat_accept_receipts(json, json, text, bigint, bigint, bigint)
  set enable_seqscan = off;
