import { createHash, type Hash } from 'node:crypto'
import { basename } from 'node:path'
import { z } from 'zod'
import type { ByteReader } from './byte-reader.ts'
import { FORMAT_VERSION } from './envelope.ts'
import { BackupError } from './errors.ts'

/**
 * Inside a backup (after envelope.ts's header, decrypted if need be): files one after the other, each
 * as the length of its header (4 bytes, big-endian), the header (JSON `{ path, size }`) and its bytes;
 * then `manifest.json`, which lists every file with its size and SHA-256; then the SHA-256 of all the
 * container's bytes before it (32 bytes), so that the manifest itself is checked too.
 *
 * The manifest comes last because the files are hashed as they are written: the backup reads each
 * file once.
 */
export const DATABASE_ENTRY = 'node.sqlite'
export const MANIFEST_ENTRY = 'manifest.json'
/** Where the restore puts each kind of file, relative to the data directory; nothing else is accepted. */
const ENTRY_PATH = /^(node\.sqlite|attachments\/([0-9a-f]{2})\/\2[0-9a-f]{62}|mail-raw\/\d{1,15}\.eml)$/
const MAX_HEADER_BYTES = 4096
/** The manifest is read whole: about 150 bytes a file, so this is several million attachments. */
const MAX_MANIFEST_BYTES = 512 * 1024 * 1024

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/)

export const EntrySchema = z.object({
  path: z.string().regex(ENTRY_PATH),
  size: z.number().int().min(0),
  sha256: Sha256Hex,
})
export type Entry = z.infer<typeof EntrySchema>

export const ManifestSchema = z.object({
  format: z.number().int().min(1),
  createdAt: z.iso.datetime(),
  /** NODE_COMPANY of the node backed up. */
  company: z.string(),
  /** The last migration applied to the database copy: its tag and drizzle's `when` (journal ms). */
  schema: z.object({ migration: z.string(), when: z.number().int() }),
  /** Which attachments are inside: those the database copy references, and why that is all of them. */
  attachments: z.literal('referenced'),
  /** Attachments the database references that were already missing from the node's disk. */
  missing: z.array(Sha256Hex),
  entries: z.array(EntrySchema),
})
export type Manifest = z.infer<typeof ManifestSchema>

const HeaderSchema = z.object({ path: z.string(), size: z.number().int().min(0) })

/** A file to put in the backup; `open` streams its bytes. */
export type Source = {
  path: string
  size: number
  open(): AsyncIterable<Buffer>
  /** For content-addressed files: the SHA-256 their bytes must have. */
  expectSha256?: string
}

/** Reported after each chunk written and each file done. */
export type Progress = { filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number }

function framed(header: object): Buffer {
  const json = Buffer.from(JSON.stringify(header))
  const length = Buffer.alloc(4)
  length.writeUInt32BE(json.length)
  return Buffer.concat([length, json])
}

/** The container's bytes: each source, then the manifest and the checksum of everything. */
export async function* containerBytes(input: {
  sources: Source[]
  manifest: Omit<Manifest, 'entries' | 'format'>
  onProgress?: (progress: Progress) => void
}): AsyncGenerator<Buffer> {
  const whole = createHash('sha256')
  const emit = (bytes: Buffer) => {
    whole.update(bytes)
    return bytes
  }
  const progress: Progress = {
    filesDone: 0,
    filesTotal: input.sources.length,
    bytesDone: 0,
    bytesTotal: input.sources.reduce((sum, source) => sum + source.size, 0),
  }
  const entries: Entry[] = []
  for (const source of input.sources) {
    yield emit(framed({ path: source.path, size: source.size }))
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of source.open()) {
      size += chunk.length
      if (size > source.size) break
      hash.update(chunk)
      progress.bytesDone += chunk.length
      yield emit(chunk)
      input.onProgress?.({ ...progress })
    }
    if (size !== source.size)
      throw new Error(`${source.path} changed size while it was copied (${source.size} → ${size} bytes)`)
    const sha256 = hash.digest('hex')
    if (source.expectSha256 !== undefined && sha256 !== source.expectSha256)
      throw new BackupError(
        'E_BACKUP_SOURCE_DAMAGED',
        `${source.path} does not match its content address (SHA-256 ${sha256}): the disk's copy is damaged. Restore that file from an older backup or from whoever sent it, then back up again`,
      )
    entries.push({ path: source.path, size, sha256 })
    progress.filesDone++
    input.onProgress?.({ ...progress })
  }
  const manifest = Buffer.from(
    JSON.stringify({ format: FORMAT_VERSION, ...input.manifest, entries }, null, 1),
  )
  yield emit(framed({ path: MANIFEST_ENTRY, size: manifest.length }))
  yield emit(manifest)
  yield whole.digest()
}

/** Where a file read from the container goes; it must consume `bytes`. */
export type Sink = (entry: { path: string; size: number }, bytes: AsyncIterable<Buffer>) => Promise<void>

/**
 * Reads a container to its end, handing each file to `sink`, and answers the manifest once every
 * file's size and SHA-256 matched it and the checksum of the whole matched too. Throws a BackupError
 * (E_BACKUP_DAMAGED) on the first difference.
 */
export async function readContainer(reader: ByteReader, sink: Sink): Promise<Manifest> {
  const whole = createHash('sha256')
  const seen = new Map<string, Entry>()
  for (;;) {
    const header = await readHeader(reader, whole)
    if (header.path === MANIFEST_ENTRY) {
      if (header.size > MAX_MANIFEST_BYTES) throw damaged('its manifest is impossibly large')
      const bytes = await reader.exactly(header.size, 'the manifest')
      whole.update(bytes)
      const checksum = await reader.exactly(32, 'the final checksum')
      if (!whole.digest().equals(checksum))
        throw damaged('its final checksum does not match (the manifest or a file header was altered)')
      if (!(await reader.atEnd())) throw damaged('it has bytes after its final checksum')
      return checkedManifest(bytes, seen)
    }
    if (!ENTRY_PATH.test(header.path))
      throw damaged(`it holds an unexpected file "${header.path.slice(0, 100)}"`)
    if (seen.has(header.path)) throw damaged(`it holds ${header.path} twice`)
    const hash = createHash('sha256')
    const body = reader.stream(header.size, header.path)
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of body) {
        hash.update(chunk)
        whole.update(chunk)
        yield chunk
      }
    }
    await sink(header, hashed())
    const sha256 = hash.digest('hex')
    // An attachment's name is its content address: the restored node serves the file by that name for
    // every row with that SHA-256, so bytes under another name would be served as someone else's file.
    if (header.path.startsWith('attachments/') && sha256 !== basename(header.path))
      throw damaged(`${header.path} does not hold the bytes its name (their SHA-256) gives`)
    seen.set(header.path, { path: header.path, size: header.size, sha256 })
  }
}

async function readHeader(reader: ByteReader, whole: Hash): Promise<{ path: string; size: number }> {
  const length = await reader.exactly(4, 'a file header')
  const bytes = length.readUInt32BE(0)
  if (bytes === 0 || bytes > MAX_HEADER_BYTES)
    throw damaged(`a file header at byte ${reader.offset} is garbled`)
  const json = await reader.exactly(bytes, 'a file header')
  whole.update(length)
  whole.update(json)
  let parsed: unknown
  try {
    parsed = JSON.parse(json.toString('utf8'))
  } catch {
    throw damaged(`a file header at byte ${reader.offset} is garbled`)
  }
  const header = HeaderSchema.safeParse(parsed)
  if (!header.success) throw damaged(`a file header at byte ${reader.offset} is garbled`)
  return header.data
}

function checkedManifest(bytes: Buffer, seen: Map<string, Entry>): Manifest {
  let parsed: unknown
  try {
    parsed = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw damaged('its manifest is not JSON')
  }
  const format = (parsed as { format?: unknown } | null)?.format
  if (typeof format === 'number' && format > FORMAT_VERSION)
    throw new BackupError(
      'E_BACKUP_TOO_NEW',
      `its manifest is format ${format}, this ochat-node reads up to ${FORMAT_VERSION}: restore it with a newer ochat-node`,
    )
  const manifest = ManifestSchema.safeParse(parsed)
  if (!manifest.success) throw damaged('its manifest does not have the expected fields')
  const listed = new Set<string>()
  for (const entry of manifest.data.entries) {
    const found = seen.get(entry.path)
    if (!found) throw damaged(`${entry.path} is in the manifest and missing from the file`)
    if (found.size !== entry.size || found.sha256 !== entry.sha256)
      throw damaged(`${entry.path} does not match the SHA-256 the manifest gives for it`)
    listed.add(entry.path)
  }
  for (const path of seen.keys()) if (!listed.has(path)) throw damaged(`${path} is not in the manifest`)
  if (!listed.has(DATABASE_ENTRY)) throw damaged('it holds no database')
  return manifest.data
}

function damaged(what: string): BackupError {
  return new BackupError(
    'E_BACKUP_DAMAGED',
    `the backup is damaged: ${what}. Nothing was restored; use another copy of the backup (an older one, or one from another place)`,
  )
}
