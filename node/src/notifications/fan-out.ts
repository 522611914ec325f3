import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'

/**
 * Tells a record's followers about a new message, in one INSERT … SELECT: a post to 50 followers is
 * one statement that SQLite runs on its own, not 50 rows read into JavaScript and written back.
 * This is the follower rule, and its only copy:
 *   - a follower on `all` gets every subtype; on `comments`, discussions only; on `custom`, the
 *     subtypes picked (picking a parent, e.g. all updates, includes its children); on `none`, nothing;
 *   - internal subtypes never reach external partners, whatever they chose;
 *   - never the author, nor inactive partners or users, nor the explicit recipients (told apart);
 *   - users who chose the inbox get an inbox notification; everyone else an email notification, on
 *     the email of their audience (`mailUser` with a link into the node, `mailPartner` without); with
 *     no email for an audience (nothing that may be emailed), its people are not told at all;
 *   - a contact without an address gets a failed email notification with the reason, so it shows;
 *   - a log note is the exception: it reaches only the followers who picked the Notes subtype (custom),
 *     and by inbox only, whatever they chose for the rest, because a note is never emailed.
 * Returns the users told by inbox, for live events.
 */
export function fanOutToFollowers(
  tx: Tx,
  input: {
    recordId: number
    messageId: number
    subtypeKey: string
    subtypeParentKey: string | null
    internal: boolean
    /** A log note: by inbox only, to those who picked the Notes subtype. */
    note: boolean
    authorPartnerId: number | null
    /** Partners told as explicit recipients instead. */
    exceptPartnerIds: number[]
    mailUser: number | null
    mailPartner: number | null
    now: number
  },
): number[] {
  const statement = once(tx, 'notify.fanOut', (sqlite) =>
    sqlite.prepare<Record<string, unknown>, { userId: number | null; channel: 'inbox' | 'email' }>(
      `insert into notifications (partner_id, user_id, record_id, message_id, reason, channel, mail_id,
                                  email_to, email_status, email_error, email_queued_at, email_next_at, created_at)
       select partner_id, user_id, @record, @message, 'message', channel,
              case when channel = 'email' then mail end,
              case when channel = 'email' then coalesce(email, '') end,
              case when channel = 'email' then case when coalesce(email, '') = '' then 'failed' else 'queued' end end,
              case when channel = 'email' and coalesce(email, '') = '' then 'the contact has no email address' end,
              case when channel = 'email' and coalesce(email, '') <> '' then @now end,
              case when channel = 'email' and coalesce(email, '') <> '' then @now end,
              @now
         from (select f.partner_id, u.id as user_id, p.email,
                      case when @note = 1 or (u.id is not null and u.notification = 'inbox') then 'inbox' else 'email' end as channel,
                      case when u.id is null then @mailPartner else @mailUser end as mail
                 from followers f
                 join partners p on p.id = f.partner_id
                 left join users u on u.partner_id = p.id
                where f.record_id = @record
                  and f.partner_id <> @author
                  and f.partner_id not in (select value from json_each(@except))
                  and p.active = 1 and (u.id is null or u.active = 1)
                  and (@internal = 0 or p.internal = 1)
                  and (@note = 0 or u.id is not null)
                  and ((f.subscription = 'all' and @note = 0)
                       or (f.subscription = 'comments' and @subtype = 'comment')
                       or (f.subscription = 'custom'
                           and exists (select 1 from json_each(f.subtypes) s where s.value in (@subtype, @parent)))))
        where channel = 'inbox' or mail is not null
        order by partner_id
       returning user_id as userId, channel`,
    ),
  )
  const told = statement.all({
    record: input.recordId,
    message: input.messageId,
    subtype: input.subtypeKey,
    parent: input.subtypeParentKey,
    internal: input.internal ? 1 : 0,
    note: input.note ? 1 : 0,
    author: input.authorPartnerId ?? -1,
    except: JSON.stringify(input.exceptPartnerIds),
    mailUser: input.mailUser,
    mailPartner: input.mailPartner,
    now: input.now,
  })
  return told.flatMap((row) => (row.channel === 'inbox' && row.userId !== null ? [row.userId] : []))
}
