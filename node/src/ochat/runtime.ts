import type { DeliveryItem, ItemResult, SignedReceipt } from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import type { LiveHub } from '../live/hub.ts'
import type { OchatSettings } from '../settings.ts'
import { type SyncOutcome, storeConnectionViews } from './connections/sync-connections.ts'
import { receiveItems } from './delivery/inbound.ts'
import { Outbox } from './delivery/outbox.ts'
import { SubmitPacer } from './delivery/pacing.ts'
import { ReadReceipts } from './delivery/read-receipts.ts'
import { type ChangedMessage, OchatEvents } from './events.ts'
import { type Instance, identityRow, openInstance } from './identity/instance.ts'
import { KeyRotations } from './identity/key-rotations.ts'
import { Keystore, KeystoreError } from './identity/keystore.ts'
import { registerInstance } from './identity/register-instance.ts'
import { RelayStatus } from './identity/relay-status.ts'
import { RelayHttpClient } from './relay/http-client.ts'
import { readRelayInfo } from './relay/relay-info.ts'
import { RelaySocket, type SocketState } from './relay/socket.ts'

export type OchatState =
  /** No operator secret: O'Chat cannot hold keys. */
  | { kind: 'off'; reason: string }
  /** Registered, but the operator's secret does not open the stored keys. */
  | { kind: 'locked'; reason: string }
  | { kind: 'unregistered' }
  | { kind: 'ready'; instance: Instance }

/** Moves files of O'Chat messages to and from the relay (files/); called after the commits. */
export interface FileTransfers {
  /** Outgoing messages with files to encrypt and upload before the outbox may send them. */
  upload(messageIds: number[]): void
  /** Incoming files to download, decrypt and check. */
  download(fileIds: number[]): void
  stop(): Promise<void>
}

export type OchatDeps = {
  database: Database
  writes: WriteQueue
  live: LiveHub
  clock: Clock
  config: OchatSettings
  log: FastifyBaseLogger
}

/** How often the relay's published key set is read again (and on every socket connect): 1 h. */
const RELAY_KEYS_EVERY_MS = 3_600_000

/** How often an unregistered node looks for an identity written by `ochat-node register`: 2 s. */
const REGISTRATION_WATCH_MS = 2_000
/**
 * Deliveries may ask for a connection read (an unknown connection, a signature that does not verify)
 * at most this often: 2 s. Anyone who can put items on our queue could otherwise make every delivery
 * cost a full read of the relay's connections; what waits is retried by the relay (inbound.ts).
 */
const INBOUND_SYNC_MIN_INTERVAL_MS = 2_000

/**
 * O'Chat in one node process: the identity (keys opened with the operator's secret), the relay
 * client and socket, the outbox, Read receipts, and connection sync. Routes call its commands; the
 * socket and the webhook route hand it what the relay delivers. Everything that leaves the process
 * (relay calls, live events) happens after the commit that caused it.
 */
export class Ochat {
  readonly #deps: OchatDeps
  #state: OchatState = { kind: 'off', reason: 'starting' }
  #keystore: Keystore | undefined
  #http: RelayHttpClient | undefined
  #socket: RelaySocket | undefined
  #outbox: Outbox | undefined
  #reads: ReadReceipts | undefined
  #syncTimer: NodeJS.Timeout | undefined
  #keysTimer: NodeJS.Timeout | undefined
  #syncing: Promise<SyncOutcome | undefined> | undefined
  #syncNext: Promise<SyncOutcome | undefined> | undefined
  /** When a delivery last caused a connection read (clock ms). */
  #inboundSyncAt = Number.NEGATIVE_INFINITY
  /** While unregistered: looks for an identity written by `ochat-node register` from another process. */
  #registrationWatch: NodeJS.Timeout | undefined
  /** Set by the files module once it is wired in. */
  transfers: FileTransfers | undefined
  /**
   * Connections an admin here is accepting right now: a sync that sees them accepted meanwhile is
   * seeing our own decision, not one the relay made up (connections/apply-connection-view.ts).
   */
  readonly acceptingHere = new Set<string>()

  readonly #events: OchatEvents
  readonly #relayStatus: RelayStatus
  readonly #rotations: KeyRotations
  /** The relay's rate limits mirrored for the outbox; outlives a transport restart, as the relay's do. */
  readonly #pacer: SubmitPacer
  #pacerHasRates = false

  constructor(deps: OchatDeps) {
    this.#deps = deps
    this.#pacer = new SubmitPacer({ now: () => deps.clock.now() })
    this.#events = new OchatEvents(deps.database.db, deps.live)
    this.#relayStatus = new RelayStatus({
      db: deps.database.db,
      writes: deps.writes,
      clock: deps.clock,
      onChange: () => this.#events.toAll('ochat.registration'),
    })
    this.#rotations = new KeyRotations({
      db: deps.database.db,
      writes: deps.writes,
      clock: deps.clock,
      log: deps.log,
      keystore: () => this.keystore,
      current: () => (this.#state.kind === 'ready' ? this.#state.instance : undefined),
      clientFor: (instance) => this.#clientFor(instance),
      stopTransport: () => this.#stopTransport(),
      resume: (instance) => {
        this.#state = { kind: 'ready', instance }
        this.#startTransport(instance)
      },
      announce: () => {
        this.#events.toAll('ochat.registration')
        this.#events.toAll('ochat.connections')
      },
    })
  }

  get state(): OchatState {
    return this.#state
  }

  get socketState(): SocketState | 'off' {
    return this.#socket?.state ?? 'off'
  }

  get keystore(): Keystore {
    if (!this.#keystore)
      throw new NodeError('E_OCHAT_OFF', this.#state.kind === 'off' ? this.#state.reason : undefined)
    return this.#keystore
  }

  /** Opens the keys and starts talking to the relay, when the node is registered. */
  async start(): Promise<void> {
    const secret = this.#deps.config.ochatSecret
    if (!secret) {
      this.#state = {
        kind: 'off',
        reason: "NODE_OCHAT_SECRET is not set: O'Chat keys cannot be sealed or opened",
      }
      return
    }
    this.#keystore ??= new Keystore(secret)
    const row = identityRow(this.#deps.database.db)
    await this.#keystore.prepare(row?.sealedSecretKeys)
    if (!row) {
      this.#state = { kind: 'unregistered' }
      this.#watchForRegistration()
      return
    }
    try {
      this.#state = { kind: 'ready', instance: openInstance(row, this.#keystore) }
    } catch (error) {
      if (!(error instanceof KeystoreError)) throw error
      this.#state = { kind: 'locked', reason: error.message }
      this.#deps.log.error({ code: 'E_OCHAT_LOCKED' }, error.message)
      return
    }
    this.#startTransport(this.#state.instance)
    // This process may have stopped during a key rotation: the relay says which keys it holds.
    if (row.pendingSecretKeys) void this.#rotations.settle()
  }

  /**
   * `ochat-node register` writes the identity from its own process: a running node notices it within
   * REGISTRATION_WATCH_MS and starts with it, so the operator need not restart the node.
   */
  #watchForRegistration(): void {
    this.#stopWatching()
    this.#registrationWatch = setInterval(() => {
      if (this.#state.kind !== 'unregistered') return this.#stopWatching()
      const row = identityRow(this.#deps.database.db)
      if (!row) return
      this.#stopWatching()
      this.#deps.log.info({ instanceId: row.instanceId }, "O'Chat: registered from the command line")
      void this.start().then(() => this.#events.toAll('ochat.registration'))
    }, REGISTRATION_WATCH_MS)
    this.#registrationWatch.unref()
  }

  #stopWatching(): void {
    clearInterval(this.#registrationWatch)
    this.#registrationWatch = undefined
  }

  /** The instance, or the error that says why O'Chat cannot act now. */
  instance(): Instance {
    const state = this.#state
    if (state.kind === 'ready') return state.instance
    if (state.kind === 'unregistered') throw new NodeError('E_OCHAT_NOT_REGISTERED')
    throw new NodeError('E_OCHAT_OFF', state.reason)
  }

  relay(): RelayHttpClient {
    this.instance()
    return this.#http as RelayHttpClient
  }

  async register(input: {
    relayUrl: string
    name: string
    inviteToken?: string
    webhookUrl?: string | null
  }) {
    if (this.#state.kind === 'off' || this.#state.kind === 'locked')
      throw new NodeError('E_OCHAT_OFF', this.#state.reason)
    const done = await registerInstance({
      database: this.#deps.database,
      keystore: this.keystore,
      relayUrl: input.relayUrl,
      name: input.name,
      webhookUrl:
        input.webhookUrl === null ? undefined : (input.webhookUrl ?? this.#deps.config.ochatWebhookUrl),
      inviteToken: input.inviteToken,
      nowMs: this.#deps.clock.now(),
    })
    this.#stopWatching()
    const row = identityRow(this.#deps.database.db)
    if (!row) throw new NodeError('E_INTERNAL')
    const instance = openInstance(row, this.keystore)
    this.#state = { kind: 'ready', instance }
    this.#startTransport(instance)
    this.#events.toAll('ochat.registration')
    return done
  }

  /** Asks the relay how it sees this instance now (valid, suspended, unreachable) and records it. */
  async checkRegistration(): Promise<void> {
    await this.#refreshRelayKeys()
    try {
      const me = await this.relay().me()
      await this.#relayStatus.record(
        me.status === 'suspended' ? 'suspended' : 'valid',
        me.status === 'suspended' ? 'suspended by the relay operator' : null,
      )
    } catch (error) {
      await this.#relayStatus.recordError(error)
    }
  }

  /**
   * New identity and encryption keys (identity/key-rotations.ts). The transport stops first, so nothing
   * is sealed or signed with the old keys meanwhile, and starts again with whichever keys are current.
   */
  async rotateKeys(): Promise<void> {
    this.instance()
    await this.#rotations.rotate()
  }

  /** A relay client signing with these keys. */
  #clientFor(instance: Instance): RelayHttpClient {
    return new RelayHttpClient(instance.relayUrl, {
      relayId: instance.relayId,
      instanceId: instance.instanceId,
      identitySecretKey: instance.identity.secretKey,
      now: () => this.#deps.clock.now(),
    })
  }

  /**
   * Reads every connection from the relay and stores it. A caller arriving while a read is under way
   * wants what the relay says now, not what it said when that read began (a request made a moment
   * ago would be missing): one more read follows it, shared by every such caller.
   */
  syncConnections(): Promise<SyncOutcome | undefined> {
    if (this.#syncing) {
      this.#syncNext ??= this.#syncing
        .catch(() => undefined)
        .then(() => {
          this.#syncNext = undefined
          return this.syncConnections()
        })
      return this.#syncNext
    }
    this.#syncing = (async () => {
      try {
        const views = await this.relay().listConnections()
        await this.#relayStatus.record('valid', null)
        // The relay answers again, but its info was not read since the start: the pacing needs its rates.
        if (!this.#pacerHasRates) void this.#refreshRelayKeys()
        const outcome = await this.#deps.writes.run((tx) =>
          storeConnectionViews(
            tx,
            views,
            this.#deps.clock.now(),
            new Map([...this.acceptingHere].map((id) => [id, { acceptedHere: true }])),
          ),
        )
        this.afterConnections(outcome)
        return outcome
      } catch (error) {
        await this.#relayStatus.recordError(error)
        throw error
      } finally {
        this.#syncing = undefined
      }
    })()
    return this.#syncing
  }

  /** A connection read asked for by a delivery: false when refused (too soon) or failed. */
  async #syncForDelivery(): Promise<boolean> {
    const now = this.#deps.clock.now()
    if (now - this.#inboundSyncAt < INBOUND_SYNC_MIN_INTERVAL_MS) return false
    this.#inboundSyncAt = now
    return this.syncConnections().then(
      () => true,
      () => false,
    )
  }

  /** Tells people what a connection change means, after its commit. */
  afterConnections(outcome: SyncOutcome | undefined): void {
    if (!outcome) return
    for (const row of outcome.keyChanges)
      this.#deps.log.warn(
        { connection: row.id, peer: row.peerInstanceId },
        "O'Chat: a peer's keys changed; its channel is paused until an admin verifies the new safety code",
      )
    if (outcome.changed || outcome.newChannels.length > 0) {
      this.#events.toAll('ochat.connections')
      this.#events.toAll('ochat.channels')
    }
    if (outcome.opened) this.#outbox?.kick()
  }

  /** What the relay delivered, by socket or webhook: stored, then answered. */
  async receive(items: DeliveryItem[]): Promise<{ results: ItemResult[]; receipts: SignedReceipt[] }> {
    const instance = this.instance()
    const outcome = await receiveItems(
      {
        db: this.#deps.database.db,
        writes: this.#deps.writes,
        clock: this.#deps.clock,
        instance,
        keystore: this.keystore,
        syncConnections: () => this.#syncForDelivery(),
      },
      items,
    )
    this.#events.arrived(outcome.added)
    this.#events.messages(outcome.changed)
    // A receipt that overtook the relay's answer to a submit leaves that message due (status.ts).
    if (outcome.changed.length > 0) this.#outbox?.kick()
    if (outcome.files.length > 0) this.transfers?.download(outcome.files)
    return { results: outcome.results, receipts: outcome.receipts }
  }

  /** New outgoing messages: files first when they have any, then the outbox. */
  sent(messageIds: number[], withFiles: number[]): void {
    if (withFiles.length > 0) this.transfers?.upload(withFiles)
    if (messageIds.length > withFiles.length) this.#outbox?.kick()
  }

  /** The relay is back: what waited out a failed attempt goes now, not at its next retry time. */
  relayIsBack(): void {
    this.#outbox?.retryNow()
    this.#reads?.kick(0)
  }

  kickOutbox(): void {
    this.#outbox?.kick()
  }

  kickReadReceipts(): void {
    this.#reads?.kick()
  }

  /** Pushes status changes to the members of each message's channel. */
  publishStatus(changes: ChangedMessage[]): void {
    this.#events.messages(changes)
  }

  /** Tells these users their channel list changed (unread counts, order). */
  publishChannels(userIds: number[]): void {
    this.#events.channels(userIds)
  }

  #startTransport(instance: Instance): void {
    const { database, writes, clock, log } = this.#deps
    this.#http = this.#clientFor(instance)
    const http = this.#http
    // NODE_OCHAT_WEBSOCKET=false: webhook only, everything this node sends goes by signed HTTP.
    this.#socket = !this.#deps.config.ochatWebSocket
      ? undefined
      : new RelaySocket({
          relayUrl: instance.relayUrl,
          instance,
          clock,
          retryScale: this.#deps.config.ochatRetryScale,
          events: {
            onReady: () => {
              void this.#relayStatus.record('valid', null)
              void this.#refreshRelayKeys()
              void this.syncConnections().catch(() => undefined)
              this.relayIsBack()
            },
            onDeliver: (items) => this.receive(items),
            onState: (state, error) => {
              // The registration page shows the socket's state: tell it (reconnects back off, so this is rare).
              if (state !== 'stopped') this.#events.toAll('ochat.registration')
              if (state === 'suspended')
                void this.#relayStatus.record('suspended', error ?? 'suspended by the relay operator')
              else if (state === 'down' && error?.startsWith('cannot reach'))
                void this.#relayStatus.record('unreachable', error)
            },
          },
        })
    const socket = this.#socket
    this.#outbox = new Outbox({
      db: database.db,
      writes,
      clock,
      keystore: this.keystore,
      instance,
      transport: () =>
        socket?.state === 'ready'
          ? (envelopes) => socket.submit(envelopes)
          : (envelopes) => http.submit(envelopes),
      onChanged: (changes) => this.publishStatus(changes),
      pacer: this.#pacer,
      retryScale: this.#deps.config.ochatRetryScale,
    })
    this.#reads = new ReadReceipts({
      db: database.db,
      writes,
      clock,
      instance,
      send: async (receipts) => {
        if (!socket?.sendReceipts(receipts)) await http.sendReceipts(receipts)
      },
      onError: (error) => log.warn({ err: error }, "O'Chat: Read receipts could not be sent; retrying"),
    })
    socket?.start()
    this.#outbox.kick()
    this.#reads.kick(0)
    this.#syncTimer = setInterval(
      () => void this.syncConnections().catch(() => undefined),
      this.#deps.config.ochatSyncMs,
    )
    this.#syncTimer.unref()
    // Webhook-only nodes have no socket to come back on: they look for a rotated relay key set hourly too.
    void this.#refreshRelayKeys()
    this.#keysTimer = setInterval(() => void this.#refreshRelayKeys(), RELAY_KEYS_EVERY_MS)
    this.#keysTimer.unref()
  }

  /** The relay's rates and key set, read again (relay/relay-info.ts). */
  async #refreshRelayKeys(): Promise<void> {
    const state = this.#state
    if (state.kind !== 'ready' || !this.#http) return
    const { ratesRead, updated } = await readRelayInfo({
      http: this.#http,
      pacer: this.#pacer,
      writes: this.#deps.writes,
      instance: state.instance,
      warn: (message) => this.#deps.log.warn(message),
    })
    if (ratesRead) this.#pacerHasRates = true
    if (updated && this.#state.kind === 'ready') this.#state = { kind: 'ready', instance: updated }
  }

  /** Stops talking to the relay: deliveries being stored finish and are acknowledged first. */
  async #stopTransport(): Promise<void> {
    clearInterval(this.#syncTimer)
    clearInterval(this.#keysTimer)
    await this.#socket?.stop()
    await this.#outbox?.stop()
    await this.#reads?.stop()
    await this.#syncing?.catch(() => undefined)
    await this.#syncNext?.catch(() => undefined)
  }

  async close(): Promise<void> {
    this.#rotations.close()
    this.#stopWatching()
    await this.#stopTransport()
    await this.transfers?.stop()
  }
}
