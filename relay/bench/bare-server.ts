// Baseline for `pnpm bench`: a bare Fastify POST route that validates a submit with the same zod
// schema and answers, with no authentication and no storage. The relay's accept rate is quoted
// against this, measured in the same run on the same machine.
import { SubmitRequestSchema } from '@ochat/shared-protocol'
import Fastify from 'fastify'

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 })
app.post('/v1/envelopes', async (request, reply) => {
  const parsed = SubmitRequestSchema.safeParse(request.body)
  if (!parsed.success) return reply.status(400).send({ error: 'invalid' })
  return {
    results: parsed.data.envelopes.map((envelope) => ({
      ok: true,
      id: envelope.header.id,
      seq: 1,
      acceptedAt: Date.now(),
    })),
  }
})
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
process.stdout.write('ready\n')
