import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/** The icons an activity type may carry, as the admin chooses them on Activity types. */
export const ACTIVITY_ICONS = [
  'square-check',
  'phone',
  'calendar',
  'mail',
  'file-up',
  'signature',
  'users',
  'clipboard-list',
  'truck',
  'file-text',
  'message-square',
  'briefcase',
  'handshake',
  'receipt',
  'flag',
  'bell',
  'map-pin',
  'package',
  'wrench',
] as const

/**
 * The Lucide icons the UI draws (node/web/icon.js, by these names). Only these go into the sprite: the
 * package has thousands, and every page would otherwise download all of them.
 */
export const ICON_NAMES = [
  'check',
  'check-check',
  'clock',
  'mail',
  'paperclip',
  'refresh-cw',
  'triangle-alert',
  'x',
  // Activity types draw one of these.
  ...ACTIVITY_ICONS,
  // O'Chat: a closed channel, browser notifications, the way back from a bulk summary.
  'ban',
  'bell-ring',
  'arrow-left',
  // Preferences: copy an API key's secret once, revoke a key, upload a picture.
  'copy',
  'trash-2',
  'upload',
  // Record lists: the search box, the sorted column's direction.
  'search',
  'arrow-up',
  'arrow-down',
] as const

export type IconName = (typeof ICON_NAMES)[number]

const LUCIDE_DIR = join(
  dirname(createRequire(import.meta.url).resolve('lucide-static/package.json')),
  'icons',
)

/** The inside of one of Lucide's files: what is between its root `<svg …>` and `</svg>`. */
const SVG_BODY = /<svg\b[^>]*>([\s\S]*)<\/svg>\s*$/

/**
 * One SVG document with a `<symbol>` per icon, drawn with `<use href="/assets/icons.svg#name">`: one
 * request for every icon of a page, same-origin (the UI's CSP allows nothing else), and the icon takes
 * the text colour through `currentColor`. The drawing attributes every Lucide icon shares are on the
 * symbol, so the page needs no style sheet for them.
 */
export async function buildIconSprite(): Promise<string> {
  const symbols = await Promise.all(
    // A name listed twice (the activity icons share some with the UI) is one symbol.
    [...new Set(ICON_NAMES)].map(async (name) => {
      const file = await readFile(join(LUCIDE_DIR, `${name}.svg`), 'utf8')
      const body = SVG_BODY.exec(file)?.[1]
      if (body === undefined) throw new Error(`lucide-static/icons/${name}.svg is not an <svg> document`)
      return (
        `<symbol id="${name}" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" ` +
        `stroke-linecap="round" stroke-linejoin="round">${body.trim()}</symbol>`
      )
    }),
  )
  // Lucide's license (ISC) asks that its notice travel with the icons.
  return `<svg xmlns="http://www.w3.org/2000/svg"><!-- Lucide icons (lucide-static), ISC license -->${symbols.join('')}</svg>\n`
}
