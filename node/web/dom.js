/**
 * Building the page without HTML strings: every text goes in through textContent. The one exception is
 * `setSanitizedHtml`, for bodies the node already sanitized (messages, activity notes).
 */

/**
 * Creates an element. `props`: class, text, on (event handlers), dataset, attrs (attributes), and any
 * DOM property (value, type, disabled…). Children: nodes, strings (as text), or nothing (null/false).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value
    else if (key === 'text') el.textContent = String(value)
    else if (key === 'on')
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler)
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else if (key === 'attrs')
      for (const [name, attr] of Object.entries(value)) el.setAttribute(name, String(attr))
    else el[key] = value
  }
  append(el, children)
  return el
}

function append(el, children) {
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren()
  append(el, children)
  return el
}

/** Only for HTML the node sanitized (message bodies, activity notes): never for anything else. */
export function setSanitizedHtml(el, sanitizedHtml) {
  el.innerHTML = sanitizedHtml
  return el
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' })

/** Epoch milliseconds → "Nov 25, 2026, 10:00 AM" in the browser's zone. */
export function formatTime(ms) {
  return timeFormat.format(new Date(ms))
}

/** "2026-11-25" → "Nov 25, 2026" (a calendar date: no zone shift). */
export function formatDate(isoDate) {
  return dateFormat.format(new Date(`${isoDate}T00:00:00Z`))
}

/** Two letters for an avatar: "Sarah Sales" → "SS". */
export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean)
  return ((words[0]?.[0] ?? '?') + (words.length > 1 ? (words.at(-1)?.[0] ?? '') : '')).toUpperCase()
}

/** One of eight avatar colours, stable per partner. */
export function avatarClass(id) {
  return `avatar avatar-${Math.abs(Number(id) || 0) % 8}`
}

export function formatBytes(bytes) {
  if (bytes < 1000) return `${bytes} B`
  if (bytes < 1000 * 1000) return `${(bytes / 1000).toFixed(1)} kB`
  return `${(bytes / 1000 / 1000).toFixed(1)} MB`
}
