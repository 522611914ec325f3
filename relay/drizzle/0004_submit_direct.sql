-- ochat_submit_envelopes with a direct hand-off (relay/src/envelopes/envelope-writer.ts), as
-- ochat_accept_receipts does for receipts (0003): `p_direct` is a JSON array of recipient ids whose socket
-- is on this replica with window places reserved for their envelopes of this batch. Their queue items are
-- inserted claimed by `p_replica_id` until `p_claimed_until` (one attempt, as a claim would set them) and are
-- not woken: the caller sends them to the socket as soon as this commits. Every other recipient is queued
-- and woken as before (`wakes`, computed by the caller without the direct ones). A `stored` row also
-- carries the qid and connection id of an item inserted claimed (null otherwise); the rest is 0001.
drop function ochat_submit_envelopes(json, text, json, bigint, bigint);
--> statement-breakpoint
create function ochat_submit_envelopes(batch json, envelopes text, wakes json, p_direct json, p_replica_id text,
  p_claimed_until bigint, now_ms bigint, deadline_ms bigint)
returns table (i int, outcome text, seq bigint, prior_sender text, accepted_at bigint, o_qid bigint, o_connection_id uuid)
language plpgsql
-- Planned on every call: a plan cached while the tables were small would keep scanning them whole.
set plan_cache_mode = force_custom_plan
as $$
begin
  return query
  with entry as (
    select x.i, x.id, x.sender, x."to" as recipient, x.size, x.blobs
    from json_to_recordset(batch) as x(i int, id uuid, sender text, "to" text, size int, blobs json)
  ),
  prior as (
    select e.id, e.sender, e.seq, e.accepted_at from envelopes e
    where e.id = any(array(select entry.id from entry))
  ),
  fresh as (
    select entry.* from entry where entry.id not in (select prior.id from prior)
  ),
  locked as (
    select c.id, c.requester, c.addressee from connections c
    where c.state = 'accepted'
      and c.id = any(array(
        select live.id from (select distinct f.sender, f.recipient from fresh f) p
        cross join lateral (
          select l.id from connections l
          where least(l.requester, l.addressee) = least(p.sender, p.recipient)
            and greatest(l.requester, l.addressee) = greatest(p.sender, p.recipient)
            and l.state = 'accepted'
        ) live
      ))
    order by c.id
    for update of c
  ),
  matched as (
    select f.*, l.id as connection_id, (f.sender = l.requester) as from_requester
    from fresh f join locked l
      on least(l.requester, l.addressee) = least(f.sender, f.recipient)
      and greatest(l.requester, l.addressee) = greatest(f.sender, f.recipient)
  ),
  counts as (
    select m.connection_id,
      count(*) filter (where m.from_requester) as by_requester,
      count(*) filter (where not m.from_requester) as by_addressee
    from matched m group by m.connection_id
  ),
  moved as (
    update connections c set
      requester_seq = c.requester_seq + n.by_requester,
      addressee_seq = c.addressee_seq + n.by_addressee
    from counts n
    where c.id = n.connection_id
    returning c.id, c.requester_seq - n.by_requester as requester_base, c.addressee_seq - n.by_addressee as addressee_base
  ),
  numbered as (
    select m.*,
      (case when m.from_requester then v.requester_base else v.addressee_base end)
        + row_number() over (partition by m.connection_id, m.from_requester order by m.i) as seq
    from matched m join moved v on v.id = m.connection_id
  ),
  stored_envelopes as (
    insert into envelopes (id, sender, recipient, connection_id, seq, size, status, accepted_at)
    select n.id, n.sender, n.recipient, n.connection_id, n.seq, n.size, 'queued', now_ms from numbered n
    returning envelopes.id
  ),
  handed as (
    select x.value as recipient from json_array_elements_text(p_direct) as x(value)
  ),
  stored_items as (
    insert into queue (destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at)
    select n.recipient, n.id, 'envelope', n.connection_id,
      '{"type":"envelope","id":"' || n.id || '","connectionId":"' || n.connection_id || '","seq":' || n.seq
        || ',"receivedAt":' || now_ms || ',"envelope":' || t.envelope || '}',
      now_ms, deadline_ms, now_ms
    from numbered n join string_to_table(envelopes, E'\n') with ordinality as t(envelope, line) on t.line = n.i + 1
    where n.recipient not in (select handed.recipient from handed)
    order by n.i
    on conflict do nothing
  ),
  claimed_items as (
    insert into queue (destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at,
      attempts, claimed_by, claimed_until)
    select n.recipient, n.id, 'envelope', n.connection_id,
      '{"type":"envelope","id":"' || n.id || '","connectionId":"' || n.connection_id || '","seq":' || n.seq
        || ',"receivedAt":' || now_ms || ',"envelope":' || t.envelope || '}',
      now_ms, deadline_ms, now_ms, 1, p_replica_id, p_claimed_until
    from numbered n join string_to_table(envelopes, E'\n') with ordinality as t(envelope, line) on t.line = n.i + 1
    where n.recipient in (select handed.recipient from handed)
    order by n.i
    on conflict do nothing
    returning queue.qid, queue.destination, queue.item_id
  ),
  granted as (
    insert into blob_grants (blob_id, instance_id, envelope_id, granted_at)
    select b.value::uuid, n.recipient, n.id, now_ms
    from numbered n cross join lateral json_array_elements_text(coalesce(n.blobs, '[]'::json)) as b(value)
    on conflict do nothing
  )
  select e.i, 'stored', n.seq, null::text, now_ms, c.qid, case when c.qid is not null then n.connection_id end
  from entry e join numbered n on n.i = e.i
    left join claimed_items c on c.item_id = n.id and c.destination = n.recipient
  union all
  select e.i, 'prior', p.seq, p.sender, p.accepted_at, null::bigint, null::uuid from entry e join prior p on p.id = e.id
  union all
  select e.i, 'unconnected', null::bigint, null::text, null::bigint, null::bigint, null::uuid from entry e
  where e.id not in (select prior.id from prior) and e.i not in (select numbered.i from numbered);

  -- Wake whoever holds each recipient's socket, but for the direct ones: `wakes` holds the payloads,
  -- recipient ids joined by commas (queue-repository.ts, wake).
  perform pg_notify('ochat_wake', w.payload) from json_array_elements_text(wakes) as w(payload);
end
$$;
