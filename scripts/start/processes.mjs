// The three servers of `pnpm start` as child processes: each in its own process group (so a Ctrl-C in
// the terminal reaches only this script, which then stops them in order), its output appended to a log
// file, watched for an unexpected exit.
import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { createServer } from 'node:net'

/** How long a server may take to stop after SIGTERM before it is killed: 10 s. */
const STOP_TIMEOUT_MS = 10_000

/** Answers the port's problem, or null when it is free on 127.0.0.1. */
export function portProblem(port) {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error) => resolve(error.code === 'EADDRINUSE' ? 'taken' : error.message))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(null)))
  })
}

/** The last lines of a log file, for a report. */
export function tail(file, lines = 20) {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n')
    return text.slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

export class Child {
  /**
   * @param {{ name: string, script: string, args: string[], env: Record<string, string>, log: string, cwd: string }} spec
   */
  constructor(spec) {
    this.name = spec.name
    this.log = spec.log
    this.stopping = false
    const fd = openSync(spec.log, 'a', 0o600)
    writeSync(fd, `\n--- ${new Date().toISOString()} ${spec.name}: ${spec.args.join(' ')}\n`)
    this.process = spawn(process.execPath, [spec.script, ...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    })
    closeSync(fd)
    this.pid = this.process.pid
    /** Resolves with { code, signal } when the process ends, whatever the reason. */
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        this.ended = { code, signal }
        resolve(this.ended)
      })
      this.process.once('error', (error) => {
        this.ended = { code: null, signal: null, error }
        resolve(this.ended)
      })
    })
  }

  get running() {
    return this.ended === undefined
  }

  /** The signal (SIGTERM by default), then SIGKILL if it has not stopped in time. Answers how it ended. */
  async stop(signal = 'SIGTERM') {
    this.stopping = true
    if (!this.running) return this.ended
    try {
      this.process.kill(signal)
    } catch {
      // Already gone between the check and the signal.
    }
    const timer = setTimeout(() => {
      try {
        this.process.kill('SIGKILL')
      } catch {
        // Gone meanwhile.
      }
    }, STOP_TIMEOUT_MS)
    const ended = await this.exited
    clearTimeout(timer)
    return ended
  }

  /** Kills at once: used when this script itself is going away without a chance to wait. */
  kill() {
    if (this.running)
      try {
        this.process.kill('SIGKILL')
      } catch {
        // Gone meanwhile.
      }
  }
}

/** Waits until `url` answers 2xx, polling every 100 ms; fails early if the child exits. */
export async function waitReady(child, url, timeoutMs) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (!child.running) throw new ChildExited(child)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      await response.arrayBuffer()
      if (response.ok) return
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${child.name} did not answer at ${url} within ${Math.round(timeoutMs / 1000)} s`)
}

export class ChildExited extends Error {
  constructor(child) {
    const how = child.ended?.error
      ? child.ended.error.message
      : child.ended?.signal
        ? `killed by ${child.ended.signal}`
        : `exit code ${child.ended?.code}`
    super(`${child.name} stopped unexpectedly (${how})`)
    this.child = child
  }
}
