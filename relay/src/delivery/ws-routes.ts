import { randomBytes } from 'node:crypto'
import type {} from '@fastify/websocket'
import {
  fromBase64Url,
  LIMITS,
  type NodeFrame,
  NodeFrameSchema,
  reason,
  toBase64Url,
  verifySocketAuth,
  zodDetails,
} from '@ochat/shared-protocol'
import { noBody } from '@ochat/shared-protocol/server'
import type { FastifyInstance, RouteShorthandOptions } from 'fastify'
import type { WebSocket } from 'ws'
import { loggable, RelayError } from '../errors.ts'
import type { RelayKeys } from '../info/relay-keys.ts'
import { findInstance } from '../instances/repository.ts'
import { resetBreaker, takeLease } from './lease-repository.ts'
import { takeOverClaims } from './queue-repository.ts'
import type { SocketHub } from './socket-hub.ts'
import { type SessionDeps, SocketSession } from './socket-session.ts'

/**
 * Close codes: the relay's own in the 4000–4999 range WebSocket leaves to applications, and for a relay
 * stopping, RFC 6455's registered 1012 (Service Restart), after which a node reconnects at once: a
 * balancer sends it to another replica.
 */
export const CLOSE = Object.freeze({
  authFailed: 4401,
  suspended: 4403,
  connectedElsewhere: 4409,
  shuttingDown: 1012,
})

/**
 * GET /v1/ws (PROTOCOL.md §6). The relay speaks first with a challenge; until the node answers it, only
 * `auth` and `ping` are accepted. Frames of one socket are handled one after the other, in order.
 */
export async function wsRoutes(
  app: FastifyInstance,
  deps: SessionDeps & { hub: SocketHub; relayKeys: RelayKeys },
): Promise<void> {
  // A plain GET (no Upgrade header) would otherwise get @fastify/websocket's empty 404. This plugin's own
  // hook: it sees only this route.
  app.addHook('preValidation', async (request) => {
    if (!request.ws) throw new RelayError('E_UPGRADE_REQUIRED')
  })
  // The upgrade is declared like any route, so that the API document lists it with the others.
  const upgrade = {
    websocket: true,
    config: { auth: 'socket' },
    schema: {
      summary: 'WebSocket for delivery and submits (PROTOCOL.md §6)',
      response: { 101: noBody('Switching protocols; the relay sends a challenge') },
    },
  } satisfies RouteShorthandOptions & { websocket: true }
  app.get('/v1/ws', upgrade, (socket: WebSocket) => {
    const challenge = toBase64Url(randomBytes(32))
    const challengeIssuedAt = deps.clock.now()
    let session: SocketSession | undefined
    let socketClosed = false
    let queue: Promise<void> = Promise.resolve()
    const send = (frame: object): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame))
    }
    const refuse = (code: string, why: string, message: string) =>
      send({ type: 'error', error: { code, message, reason: why } })
    const authTimer = setTimeout(() => socket.close(CLOSE.authFailed, 'authentication timed out'), 30_000)

    send({ type: 'challenge', v: 1, relayId: deps.relayKeys.relayId, challenge, at: challengeIssuedAt })

    socket.on('message', (data, isBinary) => {
      queue = queue
        .then(async () => {
          const frame = parseFrame(data, isBinary)
          if (!frame.ok) {
            refuse('E_INVALID_FRAME', frame.reason, 'The frame is not valid; see reason.')
            // Before authentication, nothing is owed to the sender: one bad frame ends the socket.
            if (!session) socket.close(CLOSE.authFailed, 'invalid frame before authentication')
            return
          }
          if (session) return session.handle(frame.value)
          if (frame.value.type === 'ping') return send({ type: 'pong', at: deps.clock.now() })
          if (frame.value.type !== 'auth') {
            refuse(
              'E_AUTH_REQUIRED',
              reason('auth-required', 'answer the challenge first'),
              'Authenticate first.',
            )
            return socket.close(CLOSE.authFailed, 'authentication required')
          }
          session = await authenticateSocket(frame.value)
        })
        .catch((error: unknown) => {
          deps.log.error({ err: loggable(error) }, 'socket frame failed')
          refuse(
            'E_INTERNAL',
            reason('error', 'the relay failed on this frame; retry'),
            'The relay failed; retry.',
          )
        })
    })

    socket.on('close', () => {
      clearTimeout(authTimer)
      socketClosed = true
      if (session) {
        const closing = session
        queue = queue
          .then(() => deps.hub.remove(closing))
          .catch((error: unknown) => deps.log.error({ err: loggable(error) }, 'socket close failed'))
      }
    })

    async function authenticateSocket(
      frame: Extract<NodeFrame, { type: 'auth' }>,
    ): Promise<SocketSession | undefined> {
      const instance = await findInstance(deps.db, frame.auth.instanceId)
      const verified = verifySocketAuth(frame, {
        relayId: deps.relayKeys.relayId,
        challenge,
        challengeIssuedAt,
        identityKey: instance ? fromBase64Url(instance.identityKey) : undefined,
        nowMs: deps.clock.now(),
      })
      if (!verified.ok || !instance) {
        refuse(
          'E_SOCKET_AUTH_FAILED',
          reason('auth-required', 'challenge answer is not valid'),
          'Authentication failed.',
        )
        socket.close(CLOSE.authFailed, 'authentication failed')
        return undefined
      }
      if (instance.status === 'suspended') {
        refuse(
          'E_SUSPENDED',
          reason('blocked', 'this instance is suspended'),
          'This instance is suspended by the relay operator.',
        )
        socket.close(CLOSE.suspended, 'suspended')
        return undefined
      }
      clearTimeout(authTimer)
      const nowMs = deps.clock.now()
      const created = new SocketSession({
        deps,
        instance,
        send: coalescedSend(socket),
        close: (code, why) => socket.close(code, why),
      })
      await deps.db.transaction(async (tx) => {
        created.leaseGeneration = await takeLease(tx, {
          instanceId: instance.id,
          replicaId: deps.config.replicaId,
          nowMs,
          ttlMs: deps.config.leaseTtlMs,
        })
        // A connect drains the queue at once: the breaker resets, and claims held elsewhere are released.
        // The breaker row is locked first, as a failing webhook does (delivery-failures.ts): a POST that
        // fails while this socket connects either sees the lease or has its items made due here.
        await resetBreaker(tx, { instanceId: instance.id, nowMs })
        await takeOverClaims(tx, { destination: instance.id, replicaId: deps.config.replicaId, nowMs })
      })
      // The socket may have closed while the lease was taken: then it must not stay in the hub, where
      // its lease would be renewed and keep webhook delivery away from this node.
      if (socketClosed) {
        await created.shutdown()
        return undefined
      }
      await deps.hub.add(created)
      // Known to the close handler from here on, even while the first drain runs.
      session = created
      created.sendFrame({ type: 'ready', instanceId: instance.id, window: LIMITS.socketWindow })
      await created.drain()
      return created
    }
  })
}

/**
 * Sends text frames, writing all the frames of one event-loop turn to the TCP socket together: a group
 * commit answers many submits at once, and one write costs far less than one per frame.
 */
function coalescedSend(socket: WebSocket): (text: string) => void {
  // `_socket` is ws's underlying net.Socket; without it, each frame is written on its own.
  const raw = (socket as unknown as { _socket?: { cork?: () => void; uncork?: () => void } })._socket
  let corked = false
  return (text) => {
    if (socket.readyState !== socket.OPEN) return
    if (!corked && raw?.cork && raw.uncork) {
      corked = true
      raw.cork()
      setImmediate(() => {
        corked = false
        raw.uncork?.()
      })
    }
    socket.send(text)
  }
}

function parseFrame(
  data: unknown,
  isBinary: boolean,
): { ok: true; value: NodeFrame } | { ok: false; reason: string } {
  if (isBinary) return { ok: false, reason: reason('invalid', 'frames are JSON text') }
  let json: unknown
  try {
    json = JSON.parse(String(data))
  } catch {
    return { ok: false, reason: reason('invalid', 'the frame is not JSON') }
  }
  const parsed = NodeFrameSchema.safeParse(json)
  if (parsed.success) return { ok: true, value: parsed.data }
  const first = zodDetails(parsed.error)[0]
  return { ok: false, reason: reason('invalid', first ? `${first.path}: ${first.message}` : 'unknown frame') }
}
