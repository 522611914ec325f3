import type { TrustProxy } from './limits/client-address.ts'

// What the relay's routes, commands and delivery workers need to know of its configuration, each
// piece as narrow as its users. These types are the source: boot (config.ts) builds the part of its
// configuration the domain sees as one object literal checked with `satisfies Settings`, so a field
// these types name and config.ts does not build (or builds with another type, or builds and these
// types do not name) fails to compile. The dependency goes one way: nothing below boot imports
// config.ts, so the domain never depends on how the relay is started, and a test can hand a command
// just the settings it uses.

/** Which proxies are believed about the client's address (X-Forwarded-For). */
export type ClientAddressSettings = Readonly<{ trustProxy: TrustProxy }>

/** How deliveries are claimed and how long they may take. */
export type DeliverySettings = Readonly<{
  /** Names this process in leases and claims. */
  replicaId: string
  /** How long a claimed delivery stays invisible to other replicas, in ms. */
  claimVisibilityMs: number
  /** Undelivered envelopes fail after this long, in ms. */
  deliveryDeadlineMs: number
}>

/** Deliveries over a node's socket, which one replica holds under a lease. */
export type SocketSettings = DeliverySettings &
  Readonly<{
    /** A socket lease not renewed for this long expires, in ms. */
    leaseTtlMs: number
  }>

/** Deliveries by webhook, when the recipient's socket is down. */
export type WebhookSettings = DeliverySettings &
  Readonly<{
    /** Time allowed for one webhook POST, in ms. */
    webhookTimeoutMs: number
    /** Factor on every delay of the retry schedule, in (0, 1]: 1 in production, less in tests. */
    retryScale: number
    /** Allow http and private addresses as webhook URLs: test setups on one machine only. */
    allowPrivateWebhooks: boolean
  }>

/** Who may register an instance, and how often. */
export type RegistrationSettings = Readonly<{
  registration: 'open' | 'invite'
  registrationsPerAddressPerHour: number
  allowPrivateWebhooks: boolean
}>

/** How many connection requests an instance may send, and have waiting for it. */
export type ConnectionRequestSettings = Readonly<{
  connectionRequestsPerAddressPerHour: number
  connectionRequestsPerInstancePerHour: number
  maxPendingIncoming: number
  maxPendingIncomingPerAddress: number
}>

/** The token buckets envelopes are paced by, in envelopes (burst) and envelopes per second. */
export type RateSettings = Readonly<{
  connectionBurst: number
  connectionPerSecond: number
  instanceBurst: number
  instancePerSecond: number
}>

/** What `/v1/info` and `/v1/rates` tell nodes. */
export type InfoSettings = Readonly<{
  name: string
  registration: RegistrationSettings['registration']
  rate: RateSettings
}>

/** The connection routes: requests and their limits, the client's address, the delivery deadline. */
export type ConnectionRouteSettings = ConnectionRequestSettings &
  ClientAddressSettings &
  Pick<DeliverySettings, 'deliveryDeadlineMs'>

/** The instance routes: registration and the client's address. */
export type InstanceRouteSettings = RegistrationSettings & ClientAddressSettings

/** Every piece above: what config.ts must build for the domain. */
export type Settings = ClientAddressSettings &
  SocketSettings &
  WebhookSettings &
  RegistrationSettings &
  ConnectionRequestSettings &
  InfoSettings
