import { retryDelayMs } from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import type { FastifyBaseLogger } from 'fastify'
import { findAttachment } from '../../attachments/repository.ts'
import { contentPath } from '../../attachments/storage.ts'
import type { Db } from '../../db/client.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import type { LiveHub } from '../../live/hub.ts'
import { membersOfChannels } from '../channels/repository.ts'
import { deadlineOf } from '../delivery/outbox.ts'
import { relayWaitMs } from '../delivery/pacing.ts'
import { KeystoreError } from '../identity/keystore.ts'
import { RelayAnswerError } from '../relay/http-client.ts'
import type { FileTransfers, Ochat } from '../runtime.ts'
import { BadFileError, downloadAndStore } from './download-file.ts'
import { ProgressReporter } from './progress.ts'
import { TransferQueue } from './queue.ts'
import {
  failDownload,
  failUpload,
  incomingFile,
  markUploaded,
  pendingUploadUnits,
  resetFailedFiles,
  retryingUpload,
  type UploadUnit,
  unfinishedWork,
  unitFiles,
} from './repository.ts'
import { encryptAndUpload, LocalFileError } from './upload-file.ts'

/** Streams moving at once, each way: memory is a few stream buffers per transfer. */
const CONCURRENCY = 2
/**
 * A failed network attempt is tried again after at least this long, whatever the retry scale: 1 s. An
 * attempt reads and encrypts the file again, so even a test setup's scale must not make it a tight loop.
 */
const MIN_RETRY_MS = 1_000
/** Relay answers that mean the upload or download can never succeed as it is. */
const FINAL_STATUSES = new Set([400, 404, 410, 413, 422])

type OchatPort = Pick<Ochat, 'relay' | 'keystore' | 'kickOutbox' | 'publishStatus'>

/**
 * Files of O'Chat messages, both ways (PROTOCOL.md §8). Outgoing: each file is encrypted and
 * uploaded once (once per bulk send), then its message becomes due in the outbox, whose payload lists
 * the blobs. Incoming: each file is downloaded, decrypted, checked and stored as an ordinary
 * attachment. Network failures are retried with the outbox's backoff; a file that can never pass
 * fails, with its reason (and an outgoing one fails its message). Progress is pushed live. The rows
 * are the queue: `resume` picks up what a stopped node left.
 */
export class OchatFileTransfers implements FileTransfers {
  readonly #db: Db
  readonly #writes: WriteQueue
  readonly #clock: Clock
  readonly #live: LiveHub
  readonly #dir: string
  readonly #log: FastifyBaseLogger
  readonly #ochat: OchatPort
  readonly #uploads: TransferQueue
  readonly #downloads: TransferQueue
  /** Failed attempts so far, by transfer key (in memory: a restart starts the count again). */
  readonly #attempts = new Map<string, number>()
  readonly #retryScale: number

  constructor(props: {
    db: Db
    writes: WriteQueue
    clock: Clock
    live: LiveHub
    /** config.attachmentDir */
    attachmentDir: string
    log: FastifyBaseLogger
    ochat: OchatPort
    /** Factor on the retry schedule's delays (config.ochatRetryScale). */
    retryScale: number
  }) {
    this.#db = props.db
    this.#writes = props.writes
    this.#clock = props.clock
    this.#live = props.live
    this.#dir = props.attachmentDir
    this.#log = props.log
    this.#ochat = props.ochat
    this.#retryScale = props.retryScale
    const onError = (key: string, error: unknown) =>
      this.#log.error({ err: error, transfer: key }, "O'Chat: a file transfer failed unexpectedly")
    this.#uploads = new TransferQueue({ concurrency: CONCURRENCY, onError })
    this.#downloads = new TransferQueue({ concurrency: CONCURRENCY, onError })
  }

  upload(messageIds: number[]): void {
    if (messageIds.length === 0) return
    this.#writes
      .run((tx) => {
        resetFailedFiles(tx, messageIds)
        return pendingUploadUnits(tx, messageIds)
      })
      .then((units) => {
        for (const unit of units) this.#uploads.add(unit.key, (signal) => this.#upload(unit, signal))
      })
      .catch((error: unknown) => this.#log.error({ err: error }, "O'Chat: files to upload could not be read"))
  }

  download(fileIds: number[]): void {
    for (const fileId of fileIds)
      this.#downloads.add(`download:${fileId}`, (signal) => this.#download(fileId, signal))
  }

  /** At start: uploads and downloads a stopped node left unfinished. */
  resume(): void {
    const work = unfinishedWork(this.#db)
    this.upload(work.uploads)
    this.download(work.downloads)
  }

  async stop(): Promise<void> {
    await Promise.all([this.#uploads.stop(), this.#downloads.stop()])
  }

  async #upload(unit: UploadUnit, signal: AbortSignal) {
    const files = unitFiles(this.#db, unit)
    const first = files[0]
    if (!first) return { done: true } as const
    const reporter = this.#reporter(files, first.size)
    reporter.started()
    try {
      const attachment =
        first.attachmentId === null ? undefined : findAttachment(this.#db, first.attachmentId)
      if (!attachment) throw new LocalFileError('the file is no longer stored on this node')
      const uploaded = await encryptAndUpload({
        relay: this.#ochat.relay(),
        path: contentPath(this.#dir, attachment.sha256),
        size: first.size,
        signal,
        onBytes: (done) => reporter.progress(done),
      })
      if (uploaded.digest.sha256 !== first.sha256 || uploaded.digest.size !== first.size)
        throw new LocalFileError('the stored file no longer matches the SHA-256 it was stored under')
      const sealedKey = this.#ochat.keystore.seal(uploaded.key)
      const due = await this.#writes.run((tx) =>
        markUploaded(tx, {
          fileIds: unitFiles(tx, unit).map((file) => file.id),
          blobId: uploaded.blobId,
          sealedKey,
          now: this.#clock.now(),
        }),
      )
      this.#attempts.delete(unit.key)
      reporter.finished('ready', first.size)
      if (due.length > 0) this.#ochat.kickOutbox()
      return { done: true } as const
    } catch (error) {
      if (signal.aborted) return { done: true } as const
      const waitMs = rateLimitedMs(error)
      const left = deadlineOf(first.message) - this.#clock.now()
      // Told to slow down: not a failed attempt, and the message is not Retrying for it. Until the
      // message's deadline, as in the outbox: then the upload fails like any other, or a relay that
      // always says wait would hold it for ever.
      if (waitMs !== undefined && left > 0) return { retryInMs: Math.min(waitMs, left) }
      return this.#uploadFailed(unit, first, error, reporter)
    }
  }

  async #uploadFailed(
    unit: UploadUnit,
    first: { name: string; message: { createdAt: number; failedAt: number | null } },
    error: unknown,
    reporter: ProgressReporter,
  ) {
    const now = this.#clock.now()
    const attempts = (this.#attempts.get(unit.key) ?? 0) + 1
    const detail = describe(error)
    const deadline = deadlineOf(first.message)
    const final = isFinal(error) || now >= deadline
    if (final) {
      this.#attempts.delete(unit.key)
      const changed = await this.#writes.run((tx) =>
        failUpload(tx, {
          fileIds: unitFiles(tx, unit).map((file) => file.id),
          error: detail,
          reason: `blocked: the file "${first.name}" could not be uploaded: ${unprefixed(detail)}`,
          now,
        }),
      )
      this.#log.warn({ transfer: unit.key, reason: detail }, "O'Chat: a file could not be uploaded")
      reporter.finished('failed', 0)
      this.#ochat.publishStatus(changed)
      return { done: true } as const
    }
    this.#attempts.set(unit.key, attempts)
    // The last attempt is at the deadline, where the upload fails if it has not gone.
    const retryInMs = Math.min(Math.max(MIN_RETRY_MS, this.#delayMs(attempts)), deadline - now)
    const changed = await this.#writes.run((tx) =>
      retryingUpload(tx, {
        messageIds: [...new Set(unitFiles(tx, unit).map((file) => file.messageId))],
        reason: `error: the file "${first.name}" could not be uploaded yet: ${unprefixed(detail)}`,
        now,
        nextAttemptAt: now + retryInMs,
      }),
    )
    this.#ochat.publishStatus(changed)
    return { retryInMs }
  }

  async #download(fileId: number, signal: AbortSignal) {
    const found = incomingFile(this.#db, fileId)
    if (found?.file.state !== 'pending') return { done: true } as const
    const { file } = found
    const reporter = this.#reporter([{ ...file, channelId: found.channelId }], file.size)
    const key = `download:${fileId}`
    reporter.started()
    try {
      await downloadAndStore({
        db: this.#db,
        relay: this.#ochat.relay(),
        keystore: this.#ochat.keystore,
        dir: this.#dir,
        file,
        recordId: found.recordId,
        now: () => this.#clock.now(),
        signal,
        onBytes: (done) => reporter.progress(done),
        isFinal,
      })
      this.#attempts.delete(key)
      reporter.finished('ready', file.size)
      return { done: true } as const
    } catch (error) {
      if (signal.aborted) return { done: true } as const
      const waitMs = rateLimitedMs(error)
      if (waitMs !== undefined) return { retryInMs: waitMs }
      if (isFinal(error)) {
        this.#attempts.delete(key)
        const detail =
          error instanceof RelayAnswerError && error.status === 404
            ? 'invalid: the file is no longer on the relay (it keeps files until every recipient fetched them, 30 days at most)'
            : describe(error)
        await this.#writes.run((tx) => failDownload(tx, { fileId, error: detail }))
        this.#log.warn({ fileId, reason: detail }, "O'Chat: an incoming file was refused")
        reporter.finished('failed', 0)
        return { done: true } as const
      }
      const attempts = (this.#attempts.get(key) ?? 0) + 1
      this.#attempts.set(key, attempts)
      this.#log.info({ fileId, reason: describe(error), attempts }, "O'Chat: a download will be retried")
      return { retryInMs: Math.max(MIN_RETRY_MS, this.#delayMs(attempts)) }
    }
  }

  /** The retry schedule's delay after `attempts` failed attempts, scaled as configured. */
  #delayMs(attempts: number): number {
    return retryDelayMs(attempts, Math.random, this.#retryScale)
  }

  #reporter(files: { id: number; messageId: number; channelId: number }[], size: number): ProgressReporter {
    return new ProgressReporter({
      publish: (events) => this.#live.publish({ events }),
      members: membersOfChannels(this.#db, [...new Set(files.map((file) => file.channelId))]),
      targets: files.map((file) => ({
        fileId: file.id,
        messageId: file.messageId,
        channelId: file.channelId,
      })),
      size,
    })
  }
}

/** A 429 from the relay: how long it asked us to wait (1 s to 1 h), else undefined. */
function rateLimitedMs(error: unknown): number | undefined {
  if (!(error instanceof RelayAnswerError) || error.status !== 429) return undefined
  return relayWaitMs(error.retryAfterS)
}

/** Whether trying again cannot help: the bytes are wrong, the file is gone, or the relay refused it for good. */
function isFinal(error: unknown): boolean {
  if (error instanceof BadFileError || error instanceof LocalFileError || error instanceof KeystoreError)
    return true
  return error instanceof RelayAnswerError && FINAL_STATUSES.has(error.status)
}

/** A reason with its prefix, for the file's error and the message's status. */
function describe(error: unknown): string {
  if (error instanceof BadFileError) return error.reason
  if (error instanceof RelayAnswerError) return error.reason
  const message = error instanceof Error ? error.message : String(error)
  return /^[a-z-]+: /.test(message) ? message : `error: ${message}`
}

const unprefixed = (reason: string) => reason.replace(/^[a-z-]+: /, '')
