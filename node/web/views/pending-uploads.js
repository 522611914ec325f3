import { uploadFile } from '../api.js'
import { formatBytes, h } from '../dom.js'
import { icon } from '../icon.js'

/** What a failed upload's row says unless the composer knows better. */
export function notUploaded(failure) {
  return `Not uploaded: ${failure.message} ${failure.reason ?? ''}`
}

/**
 * The files a composer uploads before it posts (the chatter's and O'Chat's): a row each with its
 * name, size, a progress bar, a status and a remove button. The message then goes with the ids of
 * the uploaded ones. `onChange` runs when a file starts, finishes, fails or is removed (Send waits
 * while one uploads); `failureText(failure)` is what a failed row says.
 */
export function pendingUploads(ctx, { recordId, onChange, failureText = notUploaded }) {
  const items = []
  const list = h('ul', { class: 'pending-files' })

  function add(file) {
    const progress = h('progress', { max: 1, value: 0, class: 'upload-progress' })
    const status = h('span', { class: 'upload-status', text: 'uploading…' })
    const item = { file, state: 'uploading', attachment: null }
    const row = h(
      'li',
      { class: 'pending-file' },
      h('span', { class: 'file-name', text: file.name }),
      h('span', { class: 'muted', text: formatBytes(file.size) }),
      progress,
      status,
      h(
        'button',
        {
          type: 'button',
          class: 'icon-button',
          attrs: { 'aria-label': `Remove ${file.name}` },
          on: {
            click: () => {
              items.splice(items.indexOf(item), 1)
              row.remove()
              onChange()
            },
          },
        },
        icon('x'),
      ),
    )
    items.push(item)
    list.append(row)
    onChange()
    uploadFile(file, { recordId, onProgress: (fraction) => (progress.value = fraction) })
      .then((attachment) => {
        item.state = 'done'
        item.attachment = attachment
        status.textContent = 'uploaded'
        row.classList.add('uploaded')
      })
      .catch((failure) => {
        item.state = 'failed'
        row.classList.add('failed')
        progress.remove()
        status.textContent = failureText(failure)
        ctx.report(failure)
      })
      .finally(onChange)
  }

  return {
    /** The rows, for the composer to place. */
    list,
    add,
    /** Whether a file is still on its way (a message sent now would go without it). */
    uploading: () => items.some((item) => item.state === 'uploading'),
    /** The ids of the uploaded files, in the order they were chosen. */
    attachmentIds: () => items.filter((item) => item.state === 'done').map((item) => item.attachment.id),
    /** The files uploaded or uploading: a failed one no longer counts towards a message's limits. */
    files: () => items.filter((item) => item.state !== 'failed').map((item) => item.file),
    /** Forgets every file, once the message that carried them is posted. */
    clear() {
      items.length = 0
      list.replaceChildren()
    },
  }
}
