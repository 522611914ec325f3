import { z } from 'zod'
import { IdParams } from '../api/params.ts'

/** Local parts the node keeps for itself: its reply and bounce addresses, and what mail servers expect. */
export const RESERVED_ALIASES = ['reply', 'bounce', 'catchall', 'postmaster', 'mailer-daemon'] as const

export const CONTACT_POLICIES = ['everyone', 'partners', 'followers', 'internal'] as const

/**
 * An RFC 5322 dot-atom in lower case, without `+`: the node's own addresses use `+` to carry a token
 * (`reply+…`), and an alias with one would read as a tagged address.
 */
const AliasNameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(64)
  .regex(
    /^[a-z0-9!#$%&'*/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*/=?^_`{|}~-]+)*$/,
    'a local part such as "sales" or "support.eu": letters, digits, dots between them, no + or spaces',
  )
  .refine((name) => !(RESERVED_ALIASES as readonly string[]).includes(name), {
    message: `reserved: not one of ${RESERVED_ALIASES.join(', ')}`,
  })
  .meta({ description: 'The local part of the address: `sales` receives sales@<mail domain>' })

export const AliasCreateSchema = z.strictObject({
  name: AliasNameSchema,
  model: z.string().max(64).meta({ description: 'The model of the records it creates or posts to' }),
  recordId: z
    .int()
    .positive()
    .nullable()
    .default(null)
    .meta({ description: 'Post everything into this record (of the model) rather than create records' }),
  defaults: z
    .record(z.string(), z.unknown())
    .default({})
    .meta({ description: "First values of the records it creates, checked against the model's fields" }),
  contactPolicy: z.enum(CONTACT_POLICIES).default('partners').meta({
    description:
      'Who may write: everyone, partners (known addresses), followers (of the target record), internal (users)',
  }),
  active: z.boolean().default(true),
})
export type AliasCreate = z.output<typeof AliasCreateSchema>

export const AliasUpdateSchema = z.strictObject({
  name: AliasNameSchema.optional(),
  model: z.string().max(64).optional(),
  recordId: z.int().positive().nullable().optional(),
  defaults: z.record(z.string(), z.unknown()).optional(),
  contactPolicy: z.enum(CONTACT_POLICIES).optional(),
  active: z.boolean().optional(),
})
export type AliasUpdate = z.output<typeof AliasUpdateSchema>

export const AliasParams = IdParams
