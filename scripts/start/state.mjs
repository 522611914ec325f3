// What `pnpm start` remembers between runs, in the data folder: the ports, the generated logins and
// passwords (so the summary can print them again), the API keys it seeds with, and each seeding step
// already done (so a second start seeds nothing twice, and an interrupted first start resumes).
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const STATE_FILE = 'start.json'

export function loadState(dataDir) {
  const file = join(dataDir, STATE_FILE)
  if (!existsSync(file)) return { v: 1, createdAt: new Date().toISOString(), nodes: {}, done: {} }
  return JSON.parse(readFileSync(file, 'utf8'))
}

/** Written whole, then renamed over the old file: a crash never leaves half a file. Owner-only. */
export function saveState(dataDir, state) {
  const file = join(dataDir, STATE_FILE)
  const temporary = `${file}.tmp`
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  renameSync(temporary, file)
}

/** A readable random password: 14 characters of base64url, about 84 bits. */
export function newPassword() {
  return randomBytes(11).toString('base64url').slice(0, 14)
}

/**
 * The operator secret that seals a node's O'Chat keys, made once in its data directory (mode 0600)
 * and handed to the node as NODE_OCHAT_SECRET_FILE. Losing it locks the node's keys.
 */
export function ensureSecretFile(nodeDir) {
  mkdirSync(nodeDir, { recursive: true, mode: 0o700 })
  const file = join(nodeDir, 'ochat-secret')
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 })
  chmodSync(file, 0o600)
  return file
}

/**
 * Runs a seeding step once: its result is stored under `key` and returned again on later starts
 * without running it.
 */
export async function once(context, key, work) {
  if (key in context.state.done) return context.state.done[key]
  const result = (await work()) ?? true
  context.state.done[key] = result
  saveState(context.dataDir, context.state)
  return result
}
