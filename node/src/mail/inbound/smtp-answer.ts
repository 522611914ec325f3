import type { Decision } from './decide.ts'
import type { InboundResult } from './receive.ts'

/**
 * What the SMTP client is answered for a mail filed this way: 250 for what was taken in or dropped on
 * purpose, 550 for a refusal (5.7.1 by policy, 5.1.1 for an unknown address), 554 for unreadable mail.
 */
export function smtpAnswer(filed: Pick<Decision, 'outcome' | 'reason' | 'policy' | 'told'>): {
  code: number
  message: string
} {
  if (filed.outcome === 'refused')
    return {
      code: 550,
      message: `${filed.policy ? '5.7.1' : '5.1.1'} ${filed.told ?? filed.reason ?? 'refused'}`,
    }
  if (filed.outcome === 'error')
    return { code: 554, message: `5.6.0 ${filed.reason ?? 'unreadable message'}` }
  return { code: 250, message: `2.0.0 ${filed.outcome}` }
}

/** A mail of which nothing was stored: the client is to send it again. */
export function notStored(reason: string, message: string): InboundResult {
  return {
    outcome: 'error',
    reason,
    recordId: null,
    messageId: null,
    incomingId: 0,
    smtp: { code: 451, message },
  }
}
