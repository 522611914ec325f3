import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { gzipSync } from 'node:zlib'

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/** Text compresses to a quarter or less; images are compressed already. */
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg'])

export type Asset = {
  type: string
  body: Buffer
  /** The same bytes gzipped, when that is smaller. */
  gzip?: Buffer
  /** A strong validator of the bytes, quoted as the ETag header wants it. */
  etag: string
}

/**
 * The UI's files, read once at start-up and kept in memory (about half a megabyte): every request is
 * answered from here, gzipped when the browser takes it, and a browser that has a file already gets a
 * 304 for it. The files are part of the release, so they cannot change while the node runs.
 *
 * The page links every module with `modulepreload`, so the browser fetches them all at once instead
 * of discovering them import by import, nine levels deep; and it names the icon sprite by a version,
 * so the sprite is cached for good and the many `<use>` references to it never ask again.
 */
export class WebAssets {
  readonly #files = new Map<string, Asset>()
  readonly spritePath: string

  constructor(directory: string, sprite: string) {
    for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue
      const path = join(entry.parentPath, entry.name)
      const type = CONTENT_TYPES[extname(path).toLowerCase()]
      if (type)
        this.#files.set(relative(directory, path).split(sep).join('/'), asset(path, readFileSync(path), type))
    }
    const spriteAsset = asset('icons.svg', Buffer.from(sprite), CONTENT_TYPES['.svg'] ?? '')
    this.spritePath = `/assets/icons.svg?v=${spriteAsset.etag.slice(1, -1)}`
    this.#files.set('icons.svg', spriteAsset)
    const index = this.#files.get('index.html')
    if (!index) throw new Error(`${directory}index.html is missing`)
    const modules = [...this.#files.keys()].filter((name) => name.endsWith('.js')).sort()
    const head = [
      `<meta name="ochat-icons" content="${this.spritePath}">`,
      ...modules.map((name) => `<link rel="modulepreload" href="/assets/${name}">`),
    ].join('\n    ')
    const page = index.body.toString('utf8').replace('</head>', `    ${head}\n  </head>`)
    this.#files.set('index.html', asset('index.html', Buffer.from(page), index.type))
  }

  get(name: string): Asset | undefined {
    return this.#files.get(name)
  }
}

function asset(path: string, body: Buffer, type: string): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
  if (!COMPRESSIBLE.has(extname(path).toLowerCase())) return { type, body, etag }
  const gzip = gzipSync(body, { level: 9 })
  return gzip.length < body.length ? { type, body, gzip, etag } : { type, body, etag }
}
