import { hasControlCharacters, InstanceIdSchema, LIMITS, plainText } from '@ochat/shared-protocol'
import { z } from 'zod'

export const ConnectionParams = z.object({ id: z.uuid() })
export const ConnectionRequestBody = z.strictObject({
  instanceId: InstanceIdSchema,
  /** As the relay takes it (PROTOCOL.md §3.1): no control characters but line breaks. */
  message: plainText(LIMITS.connectionMessageChars).default(''),
  /** The contact (an external partner) the other company is filed under. */
  contactPartnerId: z.int().positive(),
})
export const DecisionBody = z.strictObject({
  note: plainText(500).optional(),
  /** Accept: the contact the other company is filed under (required unless set when requested). */
  contactPartnerId: z.int().positive().optional(),
})
export const ContactBody = z.strictObject({ contactPartnerId: z.int().positive() })
export const VerifyBody = z.strictObject({ safetyCode: z.string().min(60).max(100) })
export const ConnectionListQuery = z.object({
  state: z.enum(['pending', 'accepted', 'rejected', 'revoked']).optional(),
})
/** A partner company without a node, reached by email. */
export const EmailContactBody = z.strictObject({
  /** The company's name, as its channel is called. */
  name: z
    .string()
    .trim()
    .min(1, 'name: the company name is required')
    .max(200)
    .refine((name) => !hasControlCharacters(name, false), { message: 'name: no control characters' }),
  /** Where its messages go and replies come from; kept in lower case. */
  email: z
    .string()
    .trim()
    .max(254)
    .pipe(z.email({ message: 'email: not a valid email address' }))
    .transform((email) => email.toLowerCase()),
  /** The contact (an external partner) the company is filed under. */
  contactPartnerId: z.int().positive(),
})
export type EmailContactInput = z.output<typeof EmailContactBody>
