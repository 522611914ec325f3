// Copies the node's database with SQLite's online backup API, on its own thread and connection, so a
// running node's requests never wait for it (see backup/snapshot.ts).
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const source = new Database(workerData.source, { readonly: true, fileMustExist: true })
source.pragma('busy_timeout = 5000')
try {
  // Every page in one step, inside one read transaction: a consistent copy however fast the node
  // commits. In steps, each commit by the node between two steps would restart the copy.
  await source.backup(workerData.target, { progress: () => 0x7fffffff })
} finally {
  source.close()
}
// A copy in rollback-journal mode is one self-contained file: nothing to carry beside it.
const copy = new Database(workerData.target)
copy.pragma('journal_mode = DELETE')
copy.close()
parentPort?.postMessage({ type: 'done' })
