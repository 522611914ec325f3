import { z } from 'zod'

/**
 * Why something was refused, as a value (PROTOCOL.md §9). The prefix tells a machine what to do next:
 *   invalid:        the input is wrong; retrying the same bytes will fail again;
 *   blocked:        the input is fine but policy forbids it (no accepted connection, suspended, revoked);
 *   rate-limited:   try again later, after Retry-After if given;
 *   duplicate:      already done; this is a success, not a failure;
 *   auth-required:  authenticate (sign the request, answer the challenge) and try again;
 *   error:          the other side failed; retrying later may work.
 */
export const REASON_PREFIXES = [
  'invalid',
  'blocked',
  'rate-limited',
  'duplicate',
  'auth-required',
  'error',
] as const
export const ReasonPrefixSchema = z.enum(REASON_PREFIXES)
export type ReasonPrefix = z.infer<typeof ReasonPrefixSchema>

export const ReasonSchema = z
  .string()
  .max(500)
  .regex(/^(invalid|blocked|rate-limited|duplicate|auth-required|error): \S/, {
    message:
      'a reason starts with "invalid: ", "blocked: ", "rate-limited: ", "duplicate: ", "auth-required: " or "error: "',
  })
export type Reason = z.infer<typeof ReasonSchema>

export function reason(prefix: ReasonPrefix, text: string): Reason {
  return `${prefix}: ${text}`
}

export function reasonPrefix(value: Reason): ReasonPrefix {
  return ReasonPrefixSchema.parse(value.slice(0, value.indexOf(':')))
}

/** Stable machine codes: upper snake case with an E_ prefix, e.g. E_CONNECTION_NOT_ACCEPTED. */
export const ErrorCodeSchema = z.string().regex(/^E_[A-Z0-9_]{2,60}$/)

/** The body of every 4xx/5xx answer from the relay and the node. */
export const ErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: ErrorCodeSchema,
    message: z.string().min(1).max(2000),
    reason: ReasonSchema,
    /** Field-level problems for `invalid:` answers: where, and what is wrong. */
    details: z
      .array(z.strictObject({ path: z.string().max(200), message: z.string().max(500) }))
      .max(50)
      .optional(),
  }),
})
export type ErrorBody = z.infer<typeof ErrorBodySchema>

/** A check that failed, returned as a value instead of thrown: `{ ok: false, code, reason }`. */
export type Rejection<Code extends string = string> = { ok: false; code: Code; reason: Reason }
export type Verified<T> = { ok: true; value: T }
export type Outcome<T, Code extends string = string> = Verified<T> | Rejection<Code>

export function reject<Code extends string>(code: Code, prefix: ReasonPrefix, text: string): Rejection<Code> {
  return { ok: false, code, reason: reason(prefix, text) }
}

export function accept<T>(value: T): Verified<T> {
  return { ok: true, value }
}

/**
 * The first problem of a zod failure, as a reason quotes it: "keys.identityKey: not base64url", or
 * "$: …" for the value itself.
 */
export function firstIssue(error: z.ZodError): string {
  const [first] = zodDetails(error)
  return first ? `${first.path}: ${first.message}` : '$: not valid'
}

/** Turns a zod failure into the `details` of an ErrorBody, so every bad field is listed at once. */
export function zodDetails(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.slice(0, 50).map((issue) => ({
    path: issue.path.length === 0 ? '$' : issue.path.map(String).join('.'),
    message: issue.message.slice(0, 500),
  }))
}
