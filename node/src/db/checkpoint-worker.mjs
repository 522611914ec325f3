// Runs SQLite WAL checkpoints on its own thread and connection, so the node's main thread never
// pays for copying the write-ahead log back into the database file (see db/checkpointer.ts).
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const db = new Database(workerData.file)
db.pragma('busy_timeout = 5000')

function checkpoint() {
  try {
    // PASSIVE: copies what it can without waiting for, or blocking, readers and the writer.
    db.pragma('wal_checkpoint(PASSIVE)')
  } catch (error) {
    parentPort?.postMessage({ type: 'error', message: String(error) })
  }
}

const timer = setInterval(checkpoint, workerData.intervalMs)
parentPort?.on('message', (message) => {
  if (message !== 'stop') return
  clearInterval(timer)
  checkpoint()
  db.close()
  parentPort?.postMessage({ type: 'stopped' })
})
