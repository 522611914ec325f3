import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'

export const INCOMING_OUTCOMES = [
  'posted',
  'created',
  'bounce',
  'duplicate',
  'auto',
  'loop',
  'refused',
  'error',
] as const

export const IncomingQuerySchema = PageQuerySchema.extend({
  outcome: z.enum(INCOMING_OUTCOMES).optional().meta({ description: 'Only mail that ended this way' }),
})

/** The media types a raw message is handed over as. */
export const RAW_MAIL_TYPES = ['message/rfc822', 'application/octet-stream'] as const
