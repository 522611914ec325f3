import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { autoGrow, fileDrop, formattingShortcuts } from './composer-input.js'
import { mentionAutocomplete } from './composer-mentions.js'
import { recipientPicker } from './composer-recipients.js'
import { receivesMessages } from './followers.js'
import { notUploaded, pendingUploads } from './pending-uploads.js'

/** The node takes at most this many partners to notify with one message. */
const MAX_NOTIFIED = 100

/**
 * The chatter composer: "Send message" goes to the followers and the ticked recipients (and warns
 * when external ones will get it by email), "Log note" is internal and says so. Markdown in a
 * textarea that grows, with Ctrl+B/I/K and `@` mentions; files are attached with the button, by
 * dropping or by pasting, uploaded first (with a progress bar), then posted with the message by id.
 */
export function mountComposer(ctx, slot, { record, kind, followers, onPosted, onClose }) {
  const note = kind === 'note'
  const uploads = pendingUploads(ctx, {
    recordId: record.id,
    onChange: updateSubmit,
    failureText: (failure) =>
      failure instanceof ApiError && failure.status === 413
        ? `Too large: ${failure.message} ${failure.reason}`
        : notUploaded(failure),
  })
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
  const text = h('textarea', {
    class: 'composer-text',
    rows: 3,
    placeholder: note ? 'Log an internal note…' : 'Send a message to followers…',
    attrs: { 'aria-label': note ? 'Internal note' : 'Message' },
  })
  const fileInput = h('input', { type: 'file', multiple: true, class: 'file-input', id: `attach-${kind}` })
  const submit = h('button', { type: 'submit', class: 'primary', text: note ? 'Log' : 'Send' })
  const mentions = mentionAutocomplete(ctx, { textarea: text, internalOnly: note })
  const recipients = note ? null : recipientPicker(ctx, { recordId: record.id, followers })
  formattingShortcuts(text)
  const grow = autoGrow(text)

  const external = followers().filter((follower) => !follower.internal && receivesMessages(follower))
  const header = note
    ? h(
        'div',
        { class: 'composer-header internal-warning' },
        h('strong', { text: 'Internal note' }),
        h('span', {
          text: ' — only employees see it; it is never sent to customers or other external followers.',
        }),
      )
    : h(
        'div',
        { class: 'composer-header' },
        h('span', { text: `To: followers of “${record.name}”` }),
        recipients.element,
        external.length
          ? h(
              'div',
              { class: 'external-warning' },
              icon('triangle-alert'),
              ` ${external.length} external follower${external.length > 1 ? 's' : ''} will receive this message by email: ${external.map((f) => f.name).join(', ')}.`,
            )
          : null,
      )

  function updateSubmit() {
    submit.disabled = uploads.uploading()
  }

  fileInput.addEventListener('change', () => {
    for (const file of fileInput.files ?? []) uploads.add(file)
    fileInput.value = ''
  })

  async function post(event) {
    event.preventDefault()
    error.hidden = true
    const attachmentIds = uploads.attachmentIds()
    if (!text.value.trim() && attachmentIds.length === 0) return
    const notified = [...new Set([...mentions.partnerIds(), ...(recipients?.partnerIds() ?? [])])]
    submit.disabled = true
    try {
      const message = await api('POST', `/api/v1/records/${record.id}/messages`, {
        kind,
        body: text.value,
        attachmentIds,
        mentionPartnerIds: notified.slice(0, MAX_NOTIFIED),
      })
      text.value = ''
      grow()
      uploads.clear()
      mentions.reset()
      onPosted(message)
    } catch (failure) {
      ctx.report(failure)
      replace(error, h('strong', { text: failure.message }), failure.reason ? ` ${failure.reason}` : '')
      error.hidden = false
    } finally {
      updateSubmit()
    }
  }

  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) post(event)
  })

  const form = h(
    'form',
    { class: note ? 'composer composer-note' : 'composer composer-message', on: { submit: post } },
    header,
    h('div', { class: 'composer-field' }, text, mentions.listbox),
    uploads.list,
    error,
    h(
      'div',
      { class: 'composer-actions' },
      submit,
      h('label', { class: 'secondary button-like', htmlFor: fileInput.id, text: 'Attach files' }),
      fileInput,
      h('span', {
        class: 'muted hint',
        text: 'Markdown: **bold** (Ctrl+B), *italic* (Ctrl+I), [link](https://…) (Ctrl+K), `code`, @name. Ctrl+Enter sends; drop or paste files to attach.',
      }),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'link-button', text: 'Close', on: { click: onClose } }),
    ),
  )
  form.prepend(fileDrop({ form, textarea: text, add: (file) => uploads.add(file) }))
  replace(slot, form)
  recipients?.load().catch(ctx.report)
  text.focus()
}
