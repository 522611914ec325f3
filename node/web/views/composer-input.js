import { h } from '../dom.js'
import { insertText } from './composer-mentions.js'

/** The tallest the text box grows to, in px; past it, it scrolls. */
const MAX_HEIGHT_PX = 320

/**
 * Ctrl+B, Ctrl+I and Ctrl+K (⌘ on a Mac) in a Markdown textarea: the selection (or a placeholder)
 * is wrapped in `**…**`, `*…*` or `[…](https://)`, the text the node renders and sanitizes.
 */
export function formattingShortcuts(textarea) {
  textarea.addEventListener('keydown', (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return
    const key = event.key.toLowerCase()
    if (key === 'b') wrap(event, '**', '**', 'bold text')
    else if (key === 'i') wrap(event, '*', '*', 'italic text')
    else if (key === 'k') link(event)
  })

  function wrap(event, before, after, placeholder) {
    event.preventDefault()
    const start = textarea.selectionStart
    const selected = textarea.value.slice(start, textarea.selectionEnd) || placeholder
    insertText(textarea, `${before}${selected}${after}`)
    // The wrapped words stay selected, so another shortcut adds to them.
    textarea.setSelectionRange(start + before.length, start + before.length + selected.length)
  }

  function link(event) {
    event.preventDefault()
    // Ctrl+K elsewhere opens the search: in the composer it makes a link, and only that.
    event.stopPropagation()
    const start = textarea.selectionStart
    const selected = textarea.value.slice(start, textarea.selectionEnd)
    const url = /^https?:\/\/\S+$/.test(selected) ? selected : 'https://'
    const label = selected || 'link text'
    insertText(textarea, `[${label}](${url})`)
    // The caret waits in the address, ready for it to be typed or pasted.
    const end = start + label.length + 3 + url.length
    textarea.setSelectionRange(end, end)
  }
}

/** The text box grows with what is typed, up to MAX_HEIGHT_PX. */
export function autoGrow(textarea) {
  function grow() {
    textarea.style.height = 'auto'
    const borders = textarea.offsetHeight - textarea.clientHeight
    textarea.style.height = `${Math.min(textarea.scrollHeight + borders, MAX_HEIGHT_PX)}px`
    textarea.style.overflowY = textarea.scrollHeight + borders > MAX_HEIGHT_PX ? 'auto' : 'hidden'
  }
  textarea.addEventListener('input', grow)
  return grow
}

/**
 * Files dropped on the composer or pasted into its text go to `add`, like the Attach button's. While
 * files are dragged over it, the composer shows where to drop them.
 */
export function fileDrop({ form, textarea, add }) {
  const zone = h('div', { class: 'drop-zone', hidden: true, text: 'Drop files to attach them' })
  let depth = 0
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files')
  const show = (on) => {
    zone.hidden = !on
    form.classList.toggle('dragging', on)
  }

  form.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return
    event.preventDefault()
    depth++
    show(true)
  })
  form.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return
    event.preventDefault()
    event.dataTransfer.dropEffect = 'copy'
  })
  // Entering a child leaves its parent: the zone hides only once the pointer left the whole form.
  form.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1)
    if (depth === 0) show(false)
  })
  form.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return
    event.preventDefault()
    depth = 0
    show(false)
    for (const file of event.dataTransfer.files) add(file)
  })
  textarea.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files ?? [])]
    if (files.length === 0) return
    // A copied picture often comes with its name as text: the file is what was meant.
    event.preventDefault()
    for (const file of files) add(file)
  })
  return zone
}
