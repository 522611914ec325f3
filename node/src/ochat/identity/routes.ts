import type { ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import type { Db } from '../../db/client.ts'
import type { Ochat } from '../runtime.ts'
import { identityRow } from './instance.ts'
import { presentRegistration, RegistrationViewSchema } from './presenter.ts'
import { RegisterBody } from './schema.ts'

/** This node's registration with a relay: its status for everyone, registering for admins. */
export async function registrationRoutes(
  app: FastifyInstance,
  opts: { db: Db; ochat: Ochat; company: string },
) {
  const { db, ochat } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const registration = () =>
    presentRegistration({ state: ochat.state, socket: ochat.socketState, row: identityRow(db) })

  routes.get(
    '/api/v1/ochat/registration',
    {
      config: { access: 'user', scope: 'ochat:read' },
      schema: {
        summary:
          "This node's registration with its relay: valid, suspended or unreachable, with the last error",
        response: { 200: RegistrationViewSchema },
      },
    },
    async () => registration(),
  )

  routes.post(
    '/api/v1/ochat/registration',
    {
      config: { access: 'user', scope: 'admin', admin: true },
      schema: {
        summary: 'Register with a relay: generates the keys here, pins the relay key set (administrators)',
        body: RegisterBody,
        response: { 201: RegistrationViewSchema },
      },
    },
    async (request, reply) => {
      const { body } = request
      await ochat.register({
        relayUrl: body.relayUrl,
        name: body.name ?? opts.company,
        inviteToken: body.inviteToken,
        webhookUrl: body.webhookUrl,
      })
      return reply.status(201).send(registration())
    },
  )

  /**
   * New identity and encryption keys (e.g. after a suspected leak), announced to the relay; the
   * instance id stays. Every peer's channel pauses until its admin verifies the new safety code.
   */
  routes.post(
    '/api/v1/ochat/registration/rotate-keys',
    {
      config: { access: 'user', scope: 'admin', admin: true },
      schema: {
        summary:
          "New identity and encryption keys, announced to the relay (administrators); each peer's channel pauses until its admin verifies the new safety code",
        response: { 200: RegistrationViewSchema },
      },
    },
    async () => {
      await ochat.rotateKeys()
      return registration()
    },
  )

  /** Asks the relay now: valid, suspended or unreachable. */
  routes.post(
    '/api/v1/ochat/registration/check',
    {
      config: { access: 'user', scope: 'ochat:read' },
      schema: {
        summary: 'Ask the relay now how it sees this node',
        response: { 200: RegistrationViewSchema },
      },
    },
    async () => {
      ochat.instance()
      await ochat.checkRegistration()
      return registration()
    },
  )
}
