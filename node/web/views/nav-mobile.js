import { h } from '../dom.js'

/**
 * The sidebar as a drawer on a narrow screen. A menu button in the top bar opens it over the page;
 * Escape, a click beside it, or following one of its links closes it. On a wide screen the stylesheet
 * hides the button and the backdrop and keeps the sidebar in place, so none of this is reachable there.
 *
 * Focus follows the drawer: opening it moves focus to the page's link in it (or its first link), and
 * closing it with Escape or the button gives focus back to the button, so a keyboard user is never left
 * on something hidden.
 */
export function navDrawer(nav) {
  nav.id = 'sidebar'
  const button = h(
    'button',
    {
      type: 'button',
      class: 'menu-button',
      attrs: { 'aria-controls': 'sidebar', 'aria-expanded': 'false', 'aria-label': 'Menu' },
      on: { click: () => setOpen(!isOpen(), { focusButton: true }) },
    },
    // Three bars drawn by the stylesheet: no glyph that a font may lack.
    h('span', { class: 'menu-bars', attrs: { 'aria-hidden': 'true' } }),
  )
  const backdrop = h('div', {
    class: 'nav-backdrop',
    hidden: true,
    on: { click: () => setOpen(false, { focusButton: false }) },
  })

  function isOpen() {
    return nav.classList.contains('open')
  }

  function setOpen(open, { focusButton }) {
    if (open === isOpen()) return
    nav.classList.toggle('open', open)
    backdrop.hidden = !open
    button.setAttribute('aria-expanded', String(open))
    if (open) (nav.querySelector('a.active') ?? nav.querySelector('a'))?.focus()
    else if (focusButton) button.focus()
  }

  function onKey(event) {
    if (event.key === 'Escape' && isOpen()) setOpen(false, { focusButton: true })
  }
  document.addEventListener('keydown', onKey)
  // A link in the drawer changes the route; the page it opens is what the person wants to see.
  nav.addEventListener('click', (event) => {
    if (event.target instanceof Element && event.target.closest('a')) setOpen(false, { focusButton: false })
  })

  return {
    button,
    backdrop,
    close: () => setOpen(false, { focusButton: false }),
    /** Stops listening, for when the shell is taken down (logging out). */
    stop: () => document.removeEventListener('keydown', onKey),
  }
}
