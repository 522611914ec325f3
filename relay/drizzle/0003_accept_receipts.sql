-- Delivered and Read receipts in one round trip (relay/src/delivery/accept-receipts.ts): the checks, the
-- envelope updates, the deletion of what the recipient holds, the receipts queued for their senders and
-- the wake-ups, in one statement. Called on its own it commits by itself: an acknowledgement with
-- nothing refused costs one statement, not BEGIN, two pipelined rounds and COMMIT.
--
-- `receipts` is a JSON array of {r, id, kind, recipient, sender, envelope_ids, body, direct}, one per
-- receipt whose signature the caller verified: `recipient` signed it, `sender` is who it goes back to,
-- `body` is the DeliveryItem text to queue for the sender, and `direct` says the sender's socket is on
-- this replica with room reserved: that item is inserted claimed by `replica_id` until `claimed_until`,
-- and returned, instead of waking anyone. `settled` is a JSON array of {destination, item_id}: queue
-- items the caller settled, deleted with the ciphertext.
--
-- Rows back: one 'outcome' per receipt (o_detail null when accepted, 'blocked' with no accepted
-- connection, or 'foreign:<envelope id>' for the first envelope not sent by `sender` to `recipient`),
-- one 'delivered' per envelope this call marked delivered, one 'claimed' per item inserted claimed.
create function ochat_accept_receipts(p_receipts json, p_settled json, p_replica_id text, p_claimed_until bigint,
  p_now_ms bigint, p_deadline_ms bigint)
returns table (o_what text, o_r int, o_id uuid, o_detail text, o_qid bigint, o_destination text, o_body text,
  o_attempts int, o_deadline_at bigint, o_connection_id uuid)
language plpgsql
-- Planned on every call: a plan cached while the tables were small would keep scanning them whole.
set plan_cache_mode = force_custom_plan
as $$
begin
  return query
  with rc as (
    select x.r, x.id, x.kind, x.recipient, x.sender, x.envelope_ids, x.body, x.direct
    from json_to_recordset(p_receipts) as x(r int, id uuid, kind text, recipient text, sender text,
      envelope_ids json, body text, direct boolean)
  ),
  named as (
    select rc.r, e.value::uuid as envelope_id, e.n
    from rc cross join lateral json_array_elements_text(rc.envelope_ids) with ordinality as e(value, n)
  ),
  found as (
    select e.id, e.recipient, e.sender from envelopes e
    where e.id = any(array(select named.envelope_id from named))
  ),
  -- Per receipt, the first envelope it names that was not sent by its sender to its recipient (unknown
  -- ids included), in one pass over all the names: a bulk batch of 1,000 receipts stays linear.
  strays as (
    select distinct on (nm.r) nm.r, nm.envelope_id
    from named nm join rc on rc.r = nm.r left join found f on f.id = nm.envelope_id
    where f.id is null or f.recipient <> rc.recipient or f.sender <> rc.sender
    order by nm.r, nm.n
  ),
  decided as (
    select rc.*,
      case
        -- Invariant 7: nothing flows without an accepted connection, receipts included. The live
        -- connection of the pair is found on connections_live_pair, whatever the statistics say.
        when not exists (
          select 1 from connections c
          where c.state = 'accepted' and c.id = (
            select l.id from connections l
            where least(l.requester, l.addressee) = least(rc.recipient, rc.sender)
              and greatest(l.requester, l.addressee) = greatest(rc.recipient, rc.sender)
              and l.state in ('pending', 'accepted')))
          then 'blocked'
        -- Same answer for an unknown id and someone else's: nothing about other envelopes leaks.
        when fo.r is not null then 'foreign:' || fo.envelope_id
      end as refusal
    from rc left join strays fo on fo.r = rc.r
  ),
  ok as (
    select d.* from decided d where d.refusal is null
  ),
  delivered_ids as (
    select distinct nm.envelope_id as id, ok.recipient from ok join named nm on nm.r = ok.r
    where ok.kind = 'delivered'
  ),
  read_ids as (
    select distinct nm.envelope_id as id from ok join named nm on nm.r = ok.r where ok.kind = 'read'
  ),
  -- One update per row: an envelope both delivered and read in this call is read in the first.
  marked as (
    update envelopes e set status = 'delivered', delivered_at = p_now_ms,
      read_at = case when e.id in (select read_ids.id from read_ids) then p_now_ms else e.read_at end
    where e.id = any(array(select delivered_ids.id from delivered_ids)) and e.status = 'queued'
    returning e.id, e.recipient
  ),
  read_marked as (
    update envelopes e set read_at = p_now_ms
    where e.id = any(array(select read_ids.id from read_ids))
      and not (e.status = 'queued' and e.id in (select delivered_ids.id from delivered_ids))
    returning e.id
  ),
  -- The ciphertext goes as soon as the recipient holds it, with the items the caller settled. Each
  -- pair is looked up in its own subquery, on the unique index (see deleteItemsOf).
  removed as (
    delete from queue where queue.qid = any(array(
      select unnest(array(select q.qid from queue q where q.destination = x.destination and q.item_id = x.item_id))
      from (
        select delivered_ids.recipient as destination, delivered_ids.id as item_id from delivered_ids
        union all
        select s.destination, s.item_id from json_to_recordset(p_settled) as s(destination text, item_id uuid)
      ) x))
    returning queue.qid
  ),
  queued as (
    insert into queue (destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at)
    select ok.sender, ok.id, 'receipt', null, ok.body, p_now_ms, p_now_ms + p_deadline_ms, p_now_ms
    from ok where not ok.direct order by ok.r
    on conflict do nothing
    returning queue.qid
  ),
  claimed as (
    insert into queue (destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at,
      attempts, claimed_by, claimed_until)
    select ok.sender, ok.id, 'receipt', null, ok.body, p_now_ms, p_now_ms + p_deadline_ms, p_now_ms,
      1, p_replica_id, p_claimed_until
    from ok where ok.direct order by ok.r
    on conflict do nothing
    returning queue.qid, queue.destination, queue.item_id, queue.body, queue.attempts, queue.deadline_at,
      queue.connection_id
  ),
  -- Wake whoever holds each sender's socket or webhook, at commit: sender ids joined by commas, at most
  -- 200 per payload (queue-repository.ts, wakePayloads).
  woken as (
    select pg_notify('ochat_wake', w.payload) from (
      select string_agg(d.destination, ',') as payload from (
        select s.destination, (row_number() over (order by s.destination) - 1) / 200 as g
        from (select distinct ok.sender as destination from ok where not ok.direct) s
      ) d group by d.g
    ) w
  )
  select 'outcome'::text, d.r, d.id, d.refusal, null::bigint, null::text, null::text, null::int, null::bigint,
    null::uuid
  from decided d
  union all
  select 'delivered', null, m.id, null, null, m.recipient, null, null, null, null from marked m
  union all
  select 'claimed', null, c.item_id, null, c.qid, c.destination, c.body, c.attempts, c.deadline_at,
    c.connection_id
  from claimed c
  union all
  select 'woken', null, null, null, (select count(*) from woken), null, null, null, null, null;
end
$$;
