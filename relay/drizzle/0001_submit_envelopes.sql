-- Group commit of envelope submits in one round trip (relay/src/envelopes/envelope-writer.ts).
-- `batch` is a JSON array of {i, id, sender, to, size, blobs}, one per envelope not repeated within
-- the batch, and `envelopes` their JSON texts in the same order, one per line (JSON text never holds a
-- raw line feed). Each text goes into its queue body as is, unparsed. One row comes back per entry: `stored` with its sequence number, `prior` with the sender, seq
-- and acceptance time of an envelope already stored under that id, or `unconnected`.
--
-- The connection rows are locked in id order before their sequence numbers move, so two replicas'
-- batches cannot deadlock, and a concurrent revoke either waits for this commit (and purges what it
-- wrote) or commits first (and this finds no accepted connection).
create function ochat_submit_envelopes(batch json, envelopes text, wakes json, now_ms bigint, deadline_ms bigint)
returns table (i int, outcome text, seq bigint, prior_sender text, accepted_at bigint)
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
  stored_items as (
    insert into queue (destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at)
    select n.recipient, n.id, 'envelope', n.connection_id,
      '{"type":"envelope","id":"' || n.id || '","connectionId":"' || n.connection_id || '","seq":' || n.seq
        || ',"receivedAt":' || now_ms || ',"envelope":' || t.envelope || '}',
      now_ms, deadline_ms, now_ms
    from numbered n join string_to_table(envelopes, E'\n') with ordinality as t(envelope, line) on t.line = n.i + 1
    order by n.i
    on conflict do nothing
  ),
  granted as (
    insert into blob_grants (blob_id, instance_id, envelope_id, granted_at)
    select b.value::uuid, n.recipient, n.id, now_ms
    from numbered n cross join lateral json_array_elements_text(coalesce(n.blobs, '[]'::json)) as b(value)
    on conflict do nothing
  )
  select e.i, 'stored', n.seq, null::text, now_ms from entry e join numbered n on n.i = e.i
  union all
  select e.i, 'prior', p.seq, p.sender, p.accepted_at from entry e join prior p on p.id = e.id
  union all
  select e.i, 'unconnected', null::bigint, null::text, null::bigint from entry e
  where e.id not in (select prior.id from prior) and e.i not in (select numbered.i from numbered);

  -- Wake whoever holds each recipient's socket: `wakes` holds the payloads, recipient ids joined by
  -- commas (queue-repository.ts, wake).
  perform pg_notify('ochat_wake', w.payload) from json_array_elements_text(wakes) as w(payload);
end
$$;
--> statement-breakpoint
-- Ciphertext does not compress: storing bodies uncompressed, and inline up to a page, saves PostgreSQL
-- a failed compression and a TOAST row per envelope.
alter table queue alter column body set storage external;
--> statement-breakpoint
alter table queue set (toast_tuple_target = 8160);
