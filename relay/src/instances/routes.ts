import {
  firstIssue,
  fromBase64Url,
  InstanceIdSchema,
  InstanceResponseSchema,
  reject,
  SignedKeyRotationSchema,
  SignedRegistrationSchema,
  verifyKeyRotation,
} from '@ochat/shared-protocol'
import {
  type Clock,
  refusal,
  type ZodTypeProvider,
  zodValidatorCompiler,
} from '@ochat/shared-protocol/server'
import type { FastifyInstance, FastifySchemaCompiler, preValidationHookHandler } from 'fastify'
import { currentInstance } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { announceInstanceChange } from '../delivery/lease-repository.ts'
import { invalidInput, RelayError } from '../errors.ts'
import { IdParams, wellFormedId } from '../ids.ts'
import { clientAddress } from '../limits/client-address.ts'
import { authorize, maySeeInstance } from '../policies.ts'
import type { InstanceRouteSettings } from '../settings.ts'
import { presentInstance } from './presenter.ts'
import { registerInstance } from './register-instance.ts'
import { findInstance, updateInstance } from './repository.ts'

/**
 * A registration or a key rotation that does not match its schema keeps the code its verification
 * gives (E_REGISTRATION_MALFORMED, E_ROTATION_MALFORMED, PROTOCOL.md §1.3–1.4), with the first problem
 * in the reason, rather than the generic E_INVALID_BODY.
 */
function malformed<Schema>(
  code: 'E_REGISTRATION_MALFORMED' | 'E_ROTATION_MALFORMED',
  what: string,
): FastifySchemaCompiler<Schema> {
  const compile = zodValidatorCompiler((part, error) => {
    if (part !== 'body') return invalidInput(error, 'E_INVALID_PARAMS')
    return RelayError.fromRejection(400, reject(code, 'invalid', `${what} ${firstIssue(error)}`))
  })
  // Fastify types a route's compiler with the route's whole schema; it is called with one part's.
  return (definition) => compile(definition as unknown as Parameters<typeof compile>[0])
}

export async function instanceRoutes(
  app: FastifyInstance,
  deps: {
    db: Db
    clock: Clock
    config: InstanceRouteSettings
    relayId: string
    signed: preValidationHookHandler
  },
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>()

  /** Registration is self-authenticating: the body is signed by the identity key it registers. */
  routes.post(
    '/v1/instances',
    {
      config: { auth: 'self-signed' },
      validatorCompiler: malformed('E_REGISTRATION_MALFORMED', 'registration'),
      schema: {
        summary: 'Register an instance by its public keys (self-signed; invite token if required)',
        description:
          "Self-signed: no signature header. The body's `signature` is by the identity key it registers, over its `registration` (label ochat/registration/v1, PROTOCOL.md §1.3), and proves possession of that key.",
        body: SignedRegistrationSchema,
        response: {
          200: InstanceResponseSchema.meta({
            description: 'Already registered with these keys; the name and webhook URL are updated',
          }),
          201: InstanceResponseSchema.meta({ description: 'Registered' }),
          429: refusal(
            'Too many new instances from this address this hour (E_REGISTRATION_RATE_LIMITED, open registration)',
          ),
        },
      },
    },
    async (request, reply) => {
      const { created, instance } = await registerInstance({
        db: deps.db,
        config: deps.config,
        relayId: deps.relayId,
        input: request.body,
        address: clientAddress(request, deps.config.trustProxy),
        nowMs: deps.clock.now(),
      })
      return reply.status(created ? 201 : 200).send({ instance })
    },
  )

  routes.get(
    '/v1/instances/me',
    {
      preValidation: deps.signed,
      schema: { summary: 'The calling instance', response: { 200: InstanceResponseSchema } },
    },
    async (request) => ({ instance: presentInstance(currentInstance(request)) }),
  )

  /** A peer's public details: only to an instance that may see it (policies.ts). */
  routes.get(
    '/v1/instances/:id',
    {
      preValidation: deps.signed,
      schema: {
        summary: 'A peer instance the caller has a connection with',
        params: IdParams,
        response: { 200: InstanceResponseSchema },
      },
    },
    async (request) => {
      const id = wellFormedId(request.params.id, InstanceIdSchema)
      const me = currentInstance(request)
      const peer = id === me.id ? me : await findInstance(deps.db, id)
      authorize(peer && (await maySeeInstance(deps.db, { viewer: me, instance: peer })))
      return { instance: presentInstance(peer) }
    },
  )

  /** Key rotation (PROTOCOL.md §1.4): signed by the current key and the new one. */
  routes.post(
    '/v1/instances/me/keys',
    {
      preValidation: deps.signed,
      validatorCompiler: malformed('E_ROTATION_MALFORMED', 'key rotation'),
      schema: {
        summary: 'Rotate keys: signed by the current identity key and the new one',
        body: SignedKeyRotationSchema,
        response: { 200: InstanceResponseSchema },
      },
    },
    async (request) => {
      const me = currentInstance(request)
      const current = fromBase64Url(me.identityKey)
      if (!current) throw new RelayError('E_INTERNAL')
      const verified = verifyKeyRotation(request.body, {
        relayId: deps.relayId,
        instanceId: me.id,
        currentIdentityKey: current,
        nowMs: deps.clock.now(),
      })
      if (!verified.ok) throw RelayError.fromRejection(400, verified)
      const { keys } = verified.value.rotation
      const updated = await updateInstance(deps.db, me.id, {
        identityKey: keys.identityKey,
        encryptionKey: keys.encryptionKey,
        keysRotatedAt: deps.clock.now(),
      })
      if (!updated) throw new RelayError('E_NOT_FOUND')
      // A socket authenticated with the old key must authenticate again with the new one.
      await announceInstanceChange(deps.db, me.id)
      return { instance: presentInstance(updated) }
    },
  )
}
