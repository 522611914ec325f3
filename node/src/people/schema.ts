import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'
import { ScopeSchema } from '../auth/scopes.ts'

export const TimeZoneSchema = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}, 'an IANA time zone, e.g. Europe/Brussels')

/** The local hour (in the user's time zone) from which the daily digest goes: 8 is 08:00. */
export const DigestHourSchema = z.int().min(0).max(23)

const Name = z.string().trim().min(1).max(200)
const Email = z.email().max(320)

const CompanyName = z.string().trim().min(1).max(200)

/** GET /api/v1/partners?search=: by name or email, any case. */
export const PartnerQuerySchema = PageQuerySchema.extend({ search: z.string().trim().max(100).optional() })

export const PartnerCreateSchema = z.strictObject({
  name: Name,
  email: Email.nullable().default(null),
  companyName: CompanyName.nullable().default(null),
})
/** No defaults here: `.partial()` of the create schema kept them, so a rename wiped email and company. */
export const PartnerUpdateSchema = z
  .strictObject({
    name: Name.optional(),
    email: Email.nullable().optional(),
    companyName: CompanyName.nullable().optional(),
    /**
     * false: someone here vouches for a contact the mail intake made, so it becomes a known contact
     * for the aliases that take mail from known contacts only. It cannot be set back to true.
     */
    fromMail: z.literal(false).optional(),
  })
  // As for activities: an empty patch is a client's mistake, said so, rather than an UPDATE with no columns.
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'nothing to change')

export const UserCreateSchema = z.strictObject({
  login: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[^\s]+$/, 'no spaces'),
  password: z.string().min(8, 'at least 8 characters').max(200),
  name: Name,
  email: Email.nullable().default(null),
  role: z.enum(['admin', 'user']).default('user'),
  notification: z.enum(['inbox', 'email']).default('inbox'),
  timeZone: TimeZoneSchema.default('UTC'),
})
export type UserCreate = z.infer<typeof UserCreateSchema>

/** What a user may change about themselves; admins may also change role and active. */
export const UserUpdateSchema = z
  .strictObject({
    name: Name.optional(),
    email: Email.nullable().optional(),
    notification: z.enum(['inbox', 'email']).optional(),
    timeZone: TimeZoneSchema.optional(),
    /** A daily digest email; it needs an email address (E_DIGEST_NEEDS_EMAIL otherwise). */
    digest: z.boolean().optional(),
    digestHour: DigestHourSchema.optional(),
    password: z.string().min(8).max(200).optional(),
    /** Required to change your own password: a stolen session or a narrow API key must not take the account. */
    currentPassword: z.string().min(1).max(200).optional(),
    role: z.enum(['admin', 'user']).optional(),
    /** Deactivating a user always revokes their API keys and ends their sessions. */
    active: z.boolean().optional(),
    /** With a new password: also revoke every API key of the user (they may have leaked together). */
    revokeApiKeys: z.boolean().optional(),
  })
  .refine((body) => !body.revokeApiKeys || body.password !== undefined, {
    message: 'revokeApiKeys goes with a new password',
    path: ['revokeApiKeys'],
  })
export type UserUpdate = z.infer<typeof UserUpdateSchema>

export const LoginSchema = z.strictObject({
  login: z.string().min(1).max(100),
  password: z.string().min(1).max(200),
})

export const ApiKeyCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z.array(ScopeSchema).min(1).max(20),
})
