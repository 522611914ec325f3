import { escapeHtml } from '../../chatter/body.ts'
import { headerText } from '../../notifications/mail-content.ts'
import type { DigestContent } from './collect.ts'

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`

/**
 * The digest email's subject and HTML body, stored on `outgoing_mail` when it is queued; the mail
 * sender wraps it (render.ts) and makes the text part from it. Everything people typed (names,
 * messages, summaries) is escaped; links go to the records in the node. The subject ends with the
 * company, which render.ts then does not repeat.
 */
export function renderDigest(input: {
  content: DigestContent
  user: { name: string }
  site: { company: string; publicUrl: string }
}): { subject: string; body: string } {
  const { content, site } = input
  const link = (record: { id: number; name: string; model: string }) =>
    `<a href="${escapeHtml(`${site.publicUrl}/#/records/${record.id}`)}">${escapeHtml(record.model)} ${escapeHtml(record.name)}</a>`

  const updates = content.records.reduce((sum, record) => sum + record.unread, 0) + content.moreRecords.unread
  const recordCount = content.records.length + content.moreRecords.records
  const summary = [
    updates > 0
      ? `${plural(updates, 'update', 'updates')} on ${plural(recordCount, 'record', 'records')}`
      : '',
    content.activities.length > 0
      ? `${content.moreActivities ? `${content.activities.length}+` : content.activities.length} ${content.activities.length === 1 && !content.moreActivities ? 'activity' : 'activities'} due`
      : '',
    content.failed.length > 0
      ? plural(
          content.failed.reduce((sum, entry) => sum + entry.count, 0),
          'email not delivered',
          'emails not delivered',
        )
      : '',
  ].filter(Boolean)
  const subject = headerText(`Your daily digest: ${summary.join(', ')} · ${site.company}`)

  const sections: string[] = [`<p>Hello ${escapeHtml(input.user.name)}, here is your daily digest.</p>`]
  if (content.records.length > 0) {
    // Snippets as quoted lines under their record, not a nested list: the text part (render.ts) keeps
    // no indentation, and "›" still tells them from the records there.
    const items = content.records.map((record) => {
      const lines = record.snippets.map(
        (snippet) =>
          `<br><span style="color:#555">› ${snippet.author ? `<strong>${escapeHtml(snippet.author)}</strong>: ` : ''}${escapeHtml(snippet.text)}</span>`,
      )
      if (record.internal > 0)
        lines.push(
          `<br><span style="color:#555">› <em>${plural(record.internal, 'internal message', 'internal messages')}: notes are not emailed, read them in the node</em></span>`,
        )
      return `<li>${link(record)}: ${plural(record.unread, 'unread update', 'unread updates')}${lines.join('')}</li>`
    })
    if (content.moreRecords.records > 0)
      items.push(
        `<li>and ${plural(content.moreRecords.unread, 'update', 'updates')} on ${plural(content.moreRecords.records, 'more record', 'more records')}</li>`,
      )
    sections.push(
      `<h3>Unread since your last digest</h3><ul>${items.join('')}</ul>`,
      `<p><a href="${escapeHtml(`${site.publicUrl}/#/inbox`)}">Open your inbox</a></p>`,
    )
  }
  if (content.activities.length > 0) {
    const items = content.activities.map(
      (activity) =>
        `<li>${escapeHtml(activity.type)}${activity.summary ? `: ${escapeHtml(activity.summary)}` : ''} on ${link(activity.record)}, ${activity.overdue ? `overdue since ${escapeHtml(activity.deadline)}` : 'due today'}</li>`,
    )
    if (content.moreActivities) items.push('<li>and more</li>')
    sections.push(
      `<h3>Your activities due</h3><ul>${items.join('')}</ul>`,
      `<p><a href="${escapeHtml(`${site.publicUrl}/#/activities`)}">Open your activities</a></p>`,
    )
  }
  if (content.failed.length > 0) {
    const items = content.failed.map(
      (entry) => `<li>${link(entry.record)}: ${plural(entry.count, 'email', 'emails')} not delivered</li>`,
    )
    sections.push(`<h3>Your messages that could not be emailed</h3><ul>${items.join('')}</ul>`)
  }
  sections.push(
    '<p style="color:#666;font-size:12px">You get this email once a day because you turned the daily digest on; turn it off in your preferences.</p>',
    `<p>— ${escapeHtml(site.company)}</p>`,
  )
  return { subject, body: sections.join('') }
}
