import { api } from '../api.js'
import { h, replace } from '../dom.js'

/** The `@word` being typed just before the caret: an `@` that starts a word, then letters. */
const TYPING = /(?:^|[^\p{L}\p{N}@._-])@([\p{L}\p{N}][\p{L}\p{N}._-]*)$/u
/** How long typing pauses before the people are looked up, in ms. */
const LOOKUP_DELAY_MS = 120
let listboxes = 0

/**
 * `@` autocomplete for a composer's textarea: typing `@` and letters lists matching people (↑/↓ to
 * move, Enter or Tab to pick, Esc to close, or a click). A pick writes `@Full Name`, which the node
 * turns into a mention link, and remembers the partner so the mention holds even when another
 * partner's name starts the same way. `internalOnly`: a log note may name colleagues only.
 */
export function mentionAutocomplete(ctx, { textarea, internalOnly }) {
  const id = `mention-list-${++listboxes}`
  const listbox = h('ul', {
    class: 'mention-list',
    id,
    hidden: true,
    attrs: { role: 'listbox', 'aria-label': 'People to mention' },
  })
  /** partnerId → name of the people picked. */
  const picked = new Map()
  let options = []
  let active = 0
  let query = null
  let timer = null
  let asked = 0

  textarea.setAttribute('aria-autocomplete', 'list')
  textarea.setAttribute('aria-controls', id)
  textarea.setAttribute('aria-expanded', 'false')

  function typedWord() {
    if (textarea.selectionStart !== textarea.selectionEnd) return null
    const match = TYPING.exec(textarea.value.slice(0, textarea.selectionStart))
    return match ? match[1] : null
  }

  function update() {
    const word = typedWord()
    if (word === null) return close()
    if (word === query) return
    query = word
    clearTimeout(timer)
    timer = setTimeout(() => lookUp(word).catch(ctx.report), LOOKUP_DELAY_MS)
  }

  async function lookUp(word) {
    const mine = ++asked
    const page = await api('GET', `/api/v1/partners?${new URLSearchParams({ search: word, limit: '8' })}`)
    // An answer that arrives after the next keystroke's question is stale.
    if (mine !== asked || typedWord() !== word) return
    options = page.items.filter((partner) => !internalOnly || partner.internal)
    active = 0
    render()
  }

  function render() {
    if (options.length === 0) return close()
    replace(
      listbox,
      options.map((partner, index) =>
        h(
          'li',
          {
            id: `${id}-${index}`,
            class: index === active ? 'mention-option active' : 'mention-option',
            attrs: { role: 'option', 'aria-selected': String(index === active) },
            // The textarea keeps the focus (and its caret) while the mouse picks.
            on: { mousedown: (event) => event.preventDefault(), click: () => pick(partner) },
          },
          h('strong', { text: partner.name }),
          partner.email ? h('span', { class: 'muted', text: ` ${partner.email}` }) : null,
          partner.internal ? null : h('span', { class: 'tag tag-external', text: 'external' }),
        ),
      ),
    )
    listbox.hidden = false
    textarea.setAttribute('aria-expanded', 'true')
    textarea.setAttribute('aria-activedescendant', `${id}-${active}`)
  }

  function close() {
    clearTimeout(timer)
    asked++
    query = null
    options = []
    listbox.hidden = true
    listbox.replaceChildren()
    textarea.setAttribute('aria-expanded', 'false')
    textarea.removeAttribute('aria-activedescendant')
  }

  function pick(partner) {
    const word = typedWord()
    if (word === null) return close()
    const end = textarea.selectionStart
    textarea.setSelectionRange(end - word.length - 1, end)
    insertText(textarea, `@${partner.name} `)
    picked.set(partner.id, partner.name)
    close()
    textarea.focus()
  }

  textarea.addEventListener('input', update)
  textarea.addEventListener('click', update)
  textarea.addEventListener('blur', () => setTimeout(close, 150))
  textarea.addEventListener('keydown', (event) => {
    if (listbox.hidden) return
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault()
      active = (active + (event.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length
      render()
    } else if (event.key === 'Enter' || event.key === 'Tab') {
      const partner = options[active]
      if (!partner || event.ctrlKey || event.metaKey) return
      event.preventDefault()
      pick(partner)
    } else if (event.key === 'Escape') {
      // Esc closes the list only, not the composer around it.
      event.preventDefault()
      event.stopPropagation()
      close()
    }
  })

  return {
    listbox,
    /** The people picked whose `@Name` is still in the text. */
    partnerIds: () =>
      [...picked].filter(([, name]) => textarea.value.includes(`@${name}`)).map(([partnerId]) => partnerId),
    reset() {
      picked.clear()
      close()
    },
  }
}

/** Types `text` over the selection, so Ctrl+Z undoes it like typing. */
export function insertText(textarea, text) {
  textarea.focus()
  // execCommand keeps the browser's undo history; where it is gone, the text still goes in.
  if (!document.execCommand?.('insertText', false, text)) {
    textarea.setRangeText(text, textarea.selectionStart, textarea.selectionEnd, 'end')
    textarea.dispatchEvent(new Event('input', { bubbles: true }))
  }
}
