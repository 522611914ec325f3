import { ApiError } from '../api.js'
import { formatBytes, h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { pendingUploads } from './pending-uploads.js'

/** O'Chat's file limits (the seed's table; the node and the relay enforce them too): decimal MB. */
export const FILE_LIMITS = { files: 5, fileBytes: 100 * 1000 * 1000, totalBytes: 500 * 1000 * 1000 }

/** Why these files cannot go on one message, or null when they can. */
export function limitProblem(files) {
  if (files.length > FILE_LIMITS.files)
    return `At most ${FILE_LIMITS.files} files per message: you chose ${files.length}.`
  const large = files.find((file) => file.size > FILE_LIMITS.fileBytes)
  if (large) return `“${large.name}” is ${formatBytes(large.size)}: at most 100 MB per file.`
  const total = files.reduce((sum, file) => sum + file.size, 0)
  if (total > FILE_LIMITS.totalBytes)
    return `The files add up to ${formatBytes(total)}: at most 500 MB per message.`
  return null
}

const TOOLS = [
  ['bold', 'B', 'Bold (**text**)'],
  ['italic', 'I', 'Italic (_text_)'],
  ['list', '•', 'Bulleted list (- item)'],
  ['link', 'Link', 'Link ([text](https://…))'],
  ['code', '</>', 'Code (`code`)'],
]

/**
 * The O'Chat composer: Markdown in a textarea with a small formatting toolbar that inserts the
 * shortcuts, Enter sends (Shift+Enter: a new line), the paperclip attaches files after checking the limits
 * before any byte leaves (nothing uploads when they are exceeded), with a progress bar per upload.
 * `send({ body, attachmentIds })` does the posting; the composer clears itself when it succeeds.
 */
export function mountOchatComposer(ctx, slot, { recordId, placeholder, send, sendLabel = 'Send' }) {
  const uploads = pendingUploads(ctx, { recordId, onChange: updateSubmit })
  const error = h('div', { class: 'form-error composer-error', hidden: true, attrs: { role: 'alert' } })
  const defaultPlaceholder = placeholder ?? 'Write a message… (Enter sends, Shift+Enter for a new line)'
  const text = h('textarea', {
    class: 'ochat-text',
    rows: 3,
    placeholder: defaultPlaceholder,
    attrs: { 'aria-label': 'Message' },
  })
  const fileInput = h('input', {
    type: 'file',
    multiple: true,
    class: 'file-input',
    id: `ochat-attach-${Math.random().toString(36).slice(2)}`,
  })
  const submit = h('button', { type: 'submit', class: 'primary send-button', text: sendLabel })
  const attach = h(
    'label',
    {
      class: 'secondary button-like attach-button',
      htmlFor: fileInput.id,
      title: 'Attach files: up to 5, 100 MB each, 500 MB in all',
    },
    // A label may not carry aria-label: the name comes from its content, the icon's own label.
    icon('paperclip', { label: 'Attach files' }),
  )
  const toolbar = h(
    'div',
    { class: 'format-toolbar', attrs: { role: 'toolbar', 'aria-label': 'Formatting' } },
    TOOLS.map(([tool, label, title]) =>
      h('button', {
        type: 'button',
        class: `format-tool format-${tool}`,
        text: label,
        title,
        dataset: { tool },
        attrs: { 'aria-label': title },
        on: { click: () => format(tool) },
      }),
    ),
  )
  let blockedReason = null

  function showError(message) {
    replace(error, message)
    error.hidden = !message
  }

  function updateSubmit() {
    submit.disabled = blockedReason !== null || uploads.uploading()
    submit.title = blockedReason ?? ''
  }

  fileInput.addEventListener('change', () => {
    const chosen = [...(fileInput.files ?? [])]
    fileInput.value = ''
    const problem = limitProblem([...uploads.files(), ...chosen])
    if (problem) {
      showError(`${problem} Nothing was uploaded; remove some files and try again.`)
      return
    }
    showError(null)
    for (const file of chosen) uploads.add(file)
  })

  /** Wraps the selection in Markdown (or inserts a placeholder), leaving the inner text selected. */
  function wrap(before, after, placeholderText) {
    const { selectionStart: start, selectionEnd: end, value } = text
    const inner = value.slice(start, end) || placeholderText
    text.setRangeText(`${before}${inner}${after}`, start, end, 'end')
    text.setSelectionRange(start + before.length, start + before.length + inner.length)
  }

  function format(tool) {
    text.focus()
    if (tool === 'bold') wrap('**', '**', 'bold text')
    else if (tool === 'italic') wrap('_', '_', 'italic text')
    else if (tool === 'code') {
      const selected = text.value.slice(text.selectionStart, text.selectionEnd)
      if (selected.includes('\n')) wrap('```\n', '\n```', '')
      else wrap('`', '`', 'code')
    } else if (tool === 'link') {
      const { selectionStart: start, selectionEnd: end, value } = text
      const label = value.slice(start, end) || 'link text'
      text.setRangeText(`[${label}](https://)`, start, end, 'end')
      // The URL is what is left to type: select it.
      const urlStart = start + label.length + 3
      text.setSelectionRange(urlStart, urlStart + 'https://'.length)
    } else if (tool === 'list') {
      const { selectionStart: start, selectionEnd: end, value } = text
      const lineStart = value.lastIndexOf('\n', start - 1) + 1
      const block = value.slice(lineStart, end) || 'item'
      const listed = block
        .split('\n')
        .map((line) => (line.startsWith('- ') ? line : `- ${line}`))
        .join('\n')
      text.setRangeText(listed, lineStart, Math.max(end, lineStart), 'end')
    }
    text.dispatchEvent(new Event('input'))
  }

  async function post(event) {
    event?.preventDefault()
    if (submit.disabled) return
    const attachmentIds = uploads.attachmentIds()
    const body = text.value.trim()
    if (!body && attachmentIds.length === 0) return
    showError(null)
    submit.disabled = true
    try {
      // The API wants a body; a message of files alone sends an empty paragraph.
      await send({ body: body || ' ', attachmentIds })
      text.value = ''
      uploads.clear()
    } catch (failure) {
      ctx.report(failure)
      showError(
        failure instanceof ApiError
          ? `${failure.message}${failure.reason ? ` ${failure.reason}` : ''}`
          : String(failure),
      )
    } finally {
      updateSubmit()
    }
  }

  text.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return
    event.preventDefault()
    void post()
  })

  const composerForm = h(
    'form',
    { class: 'ochat-composer', on: { submit: post } },
    toolbar,
    text,
    uploads.list,
    error,
    h(
      'div',
      { class: 'composer-actions' },
      submit,
      attach,
      fileInput,
      h('span', {
        class: 'muted hint',
        text: 'Up to 5 files, 100 MB each, 500 MB in all. Enter sends, Shift+Enter adds a line.',
      }),
    ),
  )
  replace(slot, composerForm)
  updateSubmit()

  return {
    focus: () => text.focus(),
    /** A reason the composer cannot send now (a paused channel), or null. */
    block(reason) {
      blockedReason = reason
      const blocked = reason !== null
      text.disabled = blocked
      text.placeholder = reason ?? defaultPlaceholder
      // A label cannot be disabled: the input it opens is, and the label looks and says so.
      fileInput.disabled = blocked
      attach.classList.toggle('disabled', blocked)
      attach.setAttribute('aria-disabled', String(blocked))
      attach.title = reason ?? 'Attach files: up to 5, 100 MB each, 500 MB in all'
      for (const button of toolbar.querySelectorAll('button')) button.disabled = blocked
      composerForm.classList.toggle('blocked', blocked)
      updateSubmit()
    },
  }
}
