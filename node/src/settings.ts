import type { UploadPace } from '@ochat/shared-protocol'

// What the node's routes, commands and O'Chat runtime need to know of its configuration, each piece as
// narrow as its users. Boot (config.ts) reads the environment and produces a value that has every
// piece; nothing below boot imports config.ts, so the domain never depends on how the node is started,
// and a test can hand a command just the settings it uses.

/** How the node presents itself: in emails, the iCal feed, tracked values. */
export type SiteSettings = Readonly<{
  /** Company name. */
  company: string
  /** Base URL people reach the node at, without a trailing slash. */
  publicUrl: string
  /** Locale and currency tracked values are displayed in. */
  locale: string
  currency: string
}>

/** Where attachments live and how large and slow an upload may be. */
export type AttachmentSettings = Readonly<{
  attachmentDir: string
  attachmentMaxBytes: number
  uploadPace: UploadPace
}>

/** UI sessions. */
export type SessionSettings = Readonly<{
  /** A session unused this long expires, in ms. */
  sessionIdleMs: number
  /** Send cookies with Secure whatever the request's scheme. */
  secureCookies: boolean
}>

/** O'Chat. */
export type OchatSettings = Readonly<{
  /** The operator's secret sealing O'Chat keys; undefined: O'Chat is off. */
  ochatSecret: string | undefined
  /** Where the relay POSTs deliveries while the socket is down. */
  ochatWebhookUrl: string
  /** How often connections are read again from the relay, in ms. */
  ochatSyncMs: number
  /** false: no outbound socket to the relay, deliveries arrive by webhook only. */
  ochatWebSocket: boolean
  /**
   * Factor on every retry delay (the outbox's, file transfers', the socket's reconnects), in (0, 1]:
   * 1 in production, less in tests and staging.
   */
  ochatRetryScale: number
}>

/** The record routes: the site, and where a deleted record's attachments are removed from. */
export type RecordSettings = SiteSettings & Pick<AttachmentSettings, 'attachmentDir'>

/** How the node reaches its outgoing mail server: STARTTLS required, TLS from the start, or plain. */
export type SmtpSecurity = 'starttls' | 'tls' | 'none'

export type SmtpServerSettings = Readonly<{
  host: string
  port: number
  security: SmtpSecurity
  user: string | null
  password: string | null
}>

/**
 * Outgoing mail as the environment sets it. Each of the server, the From address and the mail domain
 * may be left to the administrator's mail settings (null here); the environment wins where set.
 */
export type MailSettings = Readonly<{
  smtp: SmtpServerSettings | null
  mailFrom: string | null
  mailDomain: string | null
  /** A message's attachments are attached up to this total per email; the rest become links. */
  mailAttachmentsMaxBytes: number
  /** How long those links work, in days. */
  mailLinkDays: number
}>

/** Where incoming mail's SMTP listener listens, and the STARTTLS certificate it offers (PEM files). */
export type InboundSmtpSettings = Readonly<{
  host: string
  port: number
  tls: Readonly<{ certFile: string; keyFile: string }> | null
  /** Connections open at once, in all and from one client address; one more is answered 421. */
  maxConnections?: number
  maxConnectionsPerIp?: number
  /**
   * The MTAs that hand the node its mail (IP addresses, CIDR ranges): not held to the per-client
   * limits; the only clients whose Authentication-Results headers are believed.
   */
  relayClients?: readonly string[]
}>

/** Incoming mail, however it arrives (SMTP, POST /api/v1/mail/inbound, the CLI). */
export type InboundMailSettings = Readonly<{
  /** null: no SMTP listener. */
  inboundSmtp: InboundSmtpSettings | null
  /** Largest message taken, in bytes. */
  inboundMaxBytes: number
}>
