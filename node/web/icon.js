/**
 * Icons: Lucide's SVG drawings from the node's sprite (/assets/icons.svg, built from the lucide-static
 * package; node/src/web/icons.ts lists the names). Not emoji or symbol characters: a machine without an
 * emoji font draws those as empty boxes.
 */

const SVG = 'http://www.w3.org/2000/svg'

/**
 * The sprite under its version, which the page names: cached for good, so the many icons of a page
 * never ask for it again.
 */
const SPRITE = document.querySelector('meta[name="ochat-icons"]')?.content || '/assets/icons.svg'

/**
 * An icon one line of text high, in the text's colour. With a `label` it stands for that text (an icon
 * that is the only content of its button or status); without, it is decoration beside words that
 * already say it, and screen readers skip it.
 */
export function icon(name, { label } = {}) {
  const svg = document.createElementNS(SVG, 'svg')
  svg.setAttribute('class', `icon icon-${name}`)
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('width', '1em')
  svg.setAttribute('height', '1em')
  svg.setAttribute('focusable', 'false')
  if (label) {
    svg.setAttribute('role', 'img')
    svg.setAttribute('aria-label', label)
  } else svg.setAttribute('aria-hidden', 'true')
  // Through the style object, which the CSP allows (a style attribute it would not): sit on the text's
  // baseline as a character would, and never shrink to nothing in a flex row.
  svg.style.verticalAlign = '-0.125em'
  svg.style.flexShrink = '0'
  const use = document.createElementNS(SVG, 'use')
  use.setAttribute('href', `${SPRITE}#${name}`)
  svg.append(use)
  return svg
}
