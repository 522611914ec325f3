import type { Socket } from 'node:net'
import { type Clock, noBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { authenticate, principalOf } from '../auth/plugin.ts'
import type { Principal } from '../auth/principal.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord, scopeAllows } from '../policies/index.ts'
import type { SessionSettings } from '../settings.ts'
import type { LiveClient, LiveHub } from './hub.ts'

export const ClientFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('subscribe'), recordId: z.int().positive() }),
  z.strictObject({ type: z.literal('unsubscribe'), recordId: z.int().positive() }),
  z.strictObject({ type: z.literal('ping') }),
])

/**
 * GET /api/v1/live: the UI's WebSocket. Authenticated like any request (session cookie or API key).
 * A browser handshake from another site is refused by its Origin (cross-site WebSocket hijacking).
 */
export async function liveRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: SessionSettings; registry: ModelRegistry; live: LiveHub },
) {
  const auth = { db: opts.db, clock: opts.clock, sessionIdleMs: opts.config.sessionIdleMs }
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/v1/live',
    {
      websocket: true,
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'WebSocket of live events: send {type:"subscribe", recordId} to follow a record',
        response: { 101: noBody('Switching Protocols: the socket is open') },
      },
      preValidation: async (request) => {
        const origin = request.headers.origin
        if (origin !== undefined && hostOf(origin) !== request.headers.host)
          throw new NodeError('E_FORBIDDEN', 'this socket can only be opened from the node’s own pages')
        // A plain GET (no Upgrade header) would otherwise get @fastify/websocket's empty 404.
        if (!request.ws) throw new NodeError('E_UPGRADE_REQUIRED')
      },
    },
    (socket, request) => {
      const principal = principalOf(request)
      /**
       * The caller now, by the credential the socket was opened with: a socket outlives a logout, a
       * revoked key, a deactivation or a lost role, and must stop hearing anything at once. Undefined
       * (and the socket closed) once the credential no longer works.
       */
      const current = (): Principal | undefined => {
        const now = authenticate(request, auth, { touch: false })
        if (now?.userId === principal.userId) return now
        opts.live.remove(client)
        socket.close(1008, 'logged out')
        return undefined
      }
      // The credential checked once per publish round (hub.ts): a commit's events share one check.
      let checked: { round: number; who: Principal | undefined } | undefined
      const currentIn = (round: number): Principal | undefined => {
        if (checked?.round !== round) checked = { round, who: current() }
        return checked.who
      }
      const canRead = (who: Principal, recordId: number): boolean => {
        try {
          loadRecord(opts.db, { principal: who, registry: opts.registry, recordId })
          return true
        } catch {
          return false
        }
      }
      const client: LiveClient = {
        userId: principal.userId,
        send: (...texts) => {
          if (socket.readyState !== socket.OPEN) return
          // ws writes each frame to the TCP socket at once: corked around them, a commit's events
          // (a batch of receipts moves many messages) leave in one write instead of one each.
          const tcp = (socket as unknown as { _socket?: Socket })._socket
          tcp?.cork()
          try {
            for (const text of texts) socket.send(text)
          } finally {
            tcp?.uncork()
          }
        },
        mayHear: (event, round) => {
          const who = currentIn(round)
          if (!who) return false
          // O'Chat events need the key's ochat:read scope, as every O'Chat route does (the socket needs chatter:read).
          if (event.type.startsWith('ochat.')) return scopeAllows(who, 'ochat:read')
          if (event.scope === 'user' || canRead(who, event.recordId)) return true
          // Unfollowed or unassigned since subscribing: no more events about that record.
          opts.live.unsubscribe(client, event.recordId)
          return false
        },
      }
      opts.live.add(client)
      socket.on('close', () => opts.live.remove(client))
      socket.on('message', (data) => {
        let frame: z.infer<typeof ClientFrame>
        try {
          frame = ClientFrame.parse(JSON.parse(String(data)))
        } catch {
          client.send(
            JSON.stringify({ type: 'error', code: 'E_INVALID_BODY', message: 'unknown or malformed frame' }),
          )
          return
        }
        if (frame.type === 'ping') return client.send(JSON.stringify({ type: 'pong' }))
        if (frame.type === 'unsubscribe') return opts.live.unsubscribe(client, frame.recordId)
        const who = current()
        if (!who) return
        if (!canRead(who, frame.recordId)) {
          // The same answer whether the record is missing or hidden: an id tells nothing about what exists.
          client.send(JSON.stringify({ type: 'error', code: 'E_NOT_FOUND', recordId: frame.recordId }))
          return
        }
        opts.live.subscribe(client, frame.recordId)
        client.send(JSON.stringify({ type: 'subscribed', recordId: frame.recordId }))
      })
      client.send(JSON.stringify({ type: 'ready', userId: principal.userId }))
    },
  )
}

/** The host of an Origin header, or undefined for "null" (sandboxed frames, files) and anything malformed. */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host
  } catch {
    return undefined
  }
}
