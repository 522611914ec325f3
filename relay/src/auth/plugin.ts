import type { FastifyRequest } from 'fastify'
import type { InstanceRow } from '../instances/repository.ts'
import { type AuthDeps, authenticate } from './authenticate.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireInstance` on signed routes. */
    instance?: InstanceRow
  }
}

/**
 * A preHandler for signed routes: every instance route uses it, so a route without it is public by
 * mistake only if it is also missing from the list in app.ts (deny by default).
 */
export function requireInstance(deps: AuthDeps) {
  return async (request: FastifyRequest): Promise<void> => {
    request.instance = await authenticate(request, deps)
  }
}

/** The authenticated instance; routes call it only behind `requireInstance`. */
export function currentInstance(request: FastifyRequest): InstanceRow {
  if (!request.instance) throw new Error('route is missing requireInstance')
  return request.instance
}
