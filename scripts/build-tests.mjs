// Builds the workspace's TypeScript into plain JavaScript under .test-build/, for the test runs
// (scripts/test.mjs). A test process that loads TypeScript through a loader pays for the loader's
// thread and a round trip to it on every import, its dependencies' included: most of a short test
// file's time. Built once per run, every file starts as plain JavaScript.
//
// The tree is a mirror: each .ts file becomes a .js file at the same place, with its relative imports
// renamed to .js, and every other file (migrations, web assets, workers, documents, the sources
// themselves) is copied beside it, so paths made from import.meta.url find the same files. Copies, not
// links: a test that copies a folder and edits the copy must not write through to the sources. Each
// package gets a node_modules of links to its own, where @ochat/* points into the mirror, and a
// package.json whose exports name the built files. Files are written only when their content changed.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
export const OUT = join(root, '.test-build')
const PACKAGES = ['shared-protocol', 'relay', 'node', 'test']
const TOP = [...PACKAGES, 'scripts']
const SKIP = new Set(['node_modules', '.data', 'dist', 'coverage', '.tap'])

/** `from './x.ts'`, `import('./x.ts')` and `export … from '../y.ts'`: relative specifiers only. */
const RELATIVE_TS = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"\n]*?)\.ts\2/g

/** The servers' commands, which load their TypeScript through tsx: in the mirror they load the built files. */
const TSX_ENTRY = /^(relay|node)\/bin\/[^/]+\.mjs$/
const TSX_REGISTER = /^import \{ register \} from 'tsx\/esm\/api'\n+register\(\)\n/m

/**
 * A command as the mirror runs it: without tsx, importing the built .js files. A test that starts a
 * server process (the CLI tests, `pnpm start`, the replicas) would otherwise have tsx load and
 * transform, in every process, the sources the mirror has already built.
 */
function withoutTsx(text) {
  if (!TSX_REGISTER.test(text)) throw new Error('a server command no longer registers tsx as expected')
  return text.replace(TSX_REGISTER, '').replace(RELATIVE_TS, '$1$2$3.js$2')
}

function walk(dir, found) {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) walk(path, found)
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.ts.push(path)
    else if (entry.name !== 'package.json') found.other.push(path)
  }
  return found
}

/** Makes `link` point at `target`, leaving it alone when it already does. */
function link(target, at) {
  mkdirSync(dirname(at), { recursive: true })
  const wanted = relative(dirname(at), target)
  if (existsSync(at) || isLink(at)) {
    if (isLink(at) && readlinkSync(at) === wanted) return
    rmSync(at, { recursive: true, force: true })
  }
  symlinkSync(wanted, at)
}

function isLink(path) {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}

/** Written whole under a temporary name, then renamed: a test running meanwhile never reads half a file. */
function writeIfChanged(path, content) {
  const bytes = Buffer.from(content)
  if (existsSync(path) && !isLink(path) && readFileSync(path).equals(bytes)) return
  mkdirSync(dirname(path), { recursive: true })
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, bytes)
  renameSync(temporary, path)
}

/** A package's node_modules in the mirror: links to its own, with the workspace's packages built. */
function linkModules(pkg) {
  const from = join(root, pkg, 'node_modules')
  if (!existsSync(from)) return
  for (const entry of readdirSync(from)) {
    if (entry.startsWith('.')) continue
    if (entry.startsWith('@')) {
      for (const scoped of readdirSync(join(from, entry))) {
        const name = `${entry}/${scoped}`
        const target = name.startsWith('@ochat/')
          ? join(OUT, name.slice('@ochat/'.length))
          : join(from, entry, scoped)
        link(target, join(OUT, pkg, 'node_modules', entry, scoped))
      }
    } else link(join(from, entry), join(OUT, pkg, 'node_modules', entry))
  }
}

/** A package.json whose exports, main and bin name the built .js files. */
function writeManifest(pkg) {
  const path = join(root, pkg, 'package.json')
  if (!existsSync(path)) return
  const text = readFileSync(path, 'utf8').replace(/(\.\/[^"]*?)\.ts"/g, '$1.js"')
  writeIfChanged(join(OUT, pkg, 'package.json'), text)
}

export async function buildTests() {
  const files = TOP.reduce((found, dir) => walk(dir, found), { ts: [], other: [] })
  const result = await build({
    entryPoints: files.ts.map((path) => join(root, path)),
    outdir: OUT,
    outbase: root,
    bundle: false,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
    sourcemap: 'inline',
  })
  const written = new Set([join(OUT, 'timings.json')])
  for (const output of result.outputFiles) {
    writeIfChanged(output.path, output.text.replace(RELATIVE_TS, '$1$2$3.js$2'))
    written.add(output.path)
  }
  // The sources are copied too, for the tests that read them rather than run them.
  for (const path of [...files.other, ...files.ts]) {
    const content = readFileSync(join(root, path))
    writeIfChanged(join(OUT, path), TSX_ENTRY.test(path) ? withoutTsx(content.toString('utf8')) : content)
    written.add(join(OUT, path))
  }
  for (const pkg of [...PACKAGES, '.']) {
    writeManifest(pkg)
    written.add(join(OUT, pkg, 'package.json'))
    linkModules(pkg)
  }
  prune(OUT, written)
  return files.ts.length
}

/**
 * Removes what a deleted or renamed source left in the mirror: a test must not import it still. Only
 * files whose source is gone now: another run building at the same time may have added newer ones.
 */
function prune(dir, keep) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.name === 'node_modules') continue
    if (entry.isDirectory()) prune(path, keep)
    else if (!keep.has(path)) {
      const source = join(root, relative(OUT, path))
      if (!existsSync(source) && !existsSync(source.replace(/\.js$/, '.ts'))) rmSync(path, { force: true })
    }
  }
}

/** Where a test file named in the workspace runs from in the mirror. */
export function builtPath(path) {
  return join('.test-build', path.replace(/\.ts$/, '.js'))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = performance.now()
  const count = await buildTests()
  console.log(`built ${count} files in ${Math.round(performance.now() - started)} ms`)
}
