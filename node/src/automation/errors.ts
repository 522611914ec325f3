import { type CatalogEntry, CatalogError } from '@ochat/shared-protocol/server'

export const AUTOMATION_CATALOG = {
  E_AUTOMATION_FAILED: {
    status: 422,
    prefix: 'blocked',
    message:
      'An automation rule could not run on this change, so nothing of it was saved: see which rule and why; fix the rule or the change.',
  },
  E_AUTOMATION_RULE: {
    status: 422,
    prefix: 'invalid',
    message: 'The rule does not fit its model: see each problem, by where it is in the rule.',
  },
} as const satisfies Record<string, CatalogEntry>

/** A rule's action failed: the change that triggered it is refused whole. */
export class AutomationError extends CatalogError<'E_AUTOMATION_FAILED'> {
  override name = 'AutomationError'
  readonly ruleId: number
  /** What the run log keeps: the detail, with the database's words when it failed. */
  readonly logged: string
  readonly trigger: string
  /** The record it ran on; for one being created, gone with the rollback (the log keeps the id). */
  readonly recordId: number | null

  constructor(
    rule: { id: number; name: string; trigger: { kind: string } },
    cause: unknown,
    recordId: number | null,
  ) {
    // The database's own words stay in the server's log: they say nothing a user can act on.
    const why =
      cause instanceof Error && cause.name !== 'SqliteError'
        ? ((cause as { detail?: string }).detail ?? cause.message)
        : 'an internal error: the rule’s run log says more'
    super({
      code: 'E_AUTOMATION_FAILED',
      ...AUTOMATION_CATALOG.E_AUTOMATION_FAILED,
      detail: `rule "${rule.name}" (${rule.id}): ${why}`,
    })
    this.cause = cause
    // For the run log, which only administrators read.
    this.logged =
      cause instanceof Error && cause.name === 'SqliteError'
        ? `${this.detail} (${cause.message})`
        : this.detail
    this.ruleId = rule.id
    this.trigger = rule.trigger.kind
    this.recordId = recordId
  }
}

export class RuleError extends CatalogError<'E_AUTOMATION_RULE'> {
  override name = 'RuleError'

  constructor(problems: string[]) {
    super({ code: 'E_AUTOMATION_RULE', ...AUTOMATION_CATALOG.E_AUTOMATION_RULE, detail: problems.join('; ') })
  }
}
