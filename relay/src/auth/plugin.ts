import { clockSkewRejection, parseSignedRequestHeaders, withinClockWindow } from '@ochat/shared-protocol'
import type { FastifyRequest } from 'fastify'
import { RelayError } from '../errors.ts'
import type { InstanceRow } from '../instances/repository.ts'
import { type AuthDeps, authenticate } from './authenticate.ts'

/** How a route that is not signed authenticates; any route without one must be signed. */
export type RouteAuth = 'public' | 'self-signed' | 'upload-token' | 'socket' | 'metrics-token'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireInstance` on signed routes. */
    instance?: InstanceRow
  }
  interface FastifyContextConfig {
    /** Declares why a route has no signed-request hook (see assertRouteAuth). */
    auth?: RouteAuth
  }
}

const SIGNED = Symbol('signed request hook')

/**
 * The preValidation hook of signed routes (PROTOCOL.md §2.2). It runs once the body is read, which the
 * signature covers, and before the body is validated, so that an unsigned caller learns nothing from
 * a validation error.
 */
export function requireInstance(deps: AuthDeps) {
  const handler = async (request: FastifyRequest): Promise<void> => {
    request.instance = await authenticate(request, deps)
  }
  return Object.assign(handler, { [SIGNED]: true })
}

/**
 * Deny by default, enforced when routes are registered: a route either runs the signed-request
 * hook or says in its config how else it authenticates. A route that does neither stops the
 * relay from starting, instead of quietly being public.
 */
export function assertRouteAuth(route: {
  url: string
  method: string | string[]
  preValidation?: unknown
  config?: { auth?: RouteAuth }
}): void {
  const hooks = [route.preValidation].flat()
  const signed = hooks.some((handler) => typeof handler === 'function' && SIGNED in handler)
  if (!signed && !route.config?.auth) {
    throw new Error(
      `route ${[route.method].flat().join(',')} ${route.url} is neither signed nor declares its auth`,
    )
  }
}

/** The authenticated instance; routes call it only behind `requireInstance`. */
export function currentInstance(request: FastifyRequest): InstanceRow {
  if (!request.instance) throw new Error('route is missing requireInstance')
  return request.instance
}

/**
 * The part of authentication that needs no body: headers present and well formed, timestamp inside the
 * ±300 s window. Runs before the body is read; the signature itself is checked in `requireInstance`.
 */
export function precheckSignedHeaders(headers: FastifyRequest['headers'], nowMs: number): void {
  const parsed = parseSignedRequestHeaders(headers)
  if (!parsed.ok) throw RelayError.fromRejection(401, parsed)
  if (!withinClockWindow(parsed.value.timestamp, nowMs))
    throw RelayError.fromRejection(401, clockSkewRejection())
}
