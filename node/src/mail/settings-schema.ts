import { z } from 'zod'

export const SmtpSecuritySchema = z.enum(['starttls', 'tls', 'none'])

/** A DNS name of two labels or more (letters, digits, inner hyphens), as RFC 1123 allows them. */
const DOMAIN =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i
/** A one-label name (`localhost`, `mail`): a server on the same host or network may have one. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i

const Host = z
  .string()
  .trim()
  .min(1, 'give the mail server host name')
  .max(253)
  .refine(
    (host) => DOMAIN.test(host) || LABEL.test(host) || z.ipv4().safeParse(host).success,
    'a host name (smtp.example.com) or an IPv4 address, without scheme or port',
  )

const Port = z
  .number()
  .int('a whole number')
  .min(1, 'a port from 1 to 65535 (usually 587, or 465 for TLS)')
  .max(65535, 'a port from 1 to 65535 (usually 587, or 465 for TLS)')

const Address = z.email('an email address such as notifications@example.com').max(320)

const MailDomain = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(DOMAIN, 'a domain name such as example.com, without @ or scheme')

/**
 * PUT /api/v1/mail/settings: each field left out keeps its value, null clears it. The password is
 * never read back: leaving it out is how the form keeps it. Fields the environment sets are refused.
 */
export const MailSettingsUpdateSchema = z.strictObject({
  host: Host.nullable().optional(),
  port: Port.nullable().optional(),
  security: SmtpSecuritySchema.optional(),
  user: z.string().trim().max(320).nullable().optional(),
  // Not trimmed: a password may end in a space.
  password: z.string().min(1, 'null clears the password').max(1024).nullable().optional(),
  from: Address.nullable().optional(),
  mailDomain: MailDomain.nullable().optional(),
})
export type MailSettingsUpdate = z.infer<typeof MailSettingsUpdateSchema>

/** POST /api/v1/mail/settings/test */
export const TestEmailBodySchema = z.strictObject({ to: Address })

/** /mail/unfollow/:token and /mail/files/:token: the token is checked by its MAC, this only bounds it. */
export const LinkTokenParams = z.object({ token: z.string().min(1).max(100) })
