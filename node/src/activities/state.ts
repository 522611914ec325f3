import { localDate } from './dates.ts'
import type { ActivityState } from './schema.ts'

/**
 * An open activity's state: the deadline compared with today's date on the
 * assignee's wall clock. Earlier → overdue (red), the same day → today (orange), later → planned (green).
 * Both are `YYYY-MM-DD`, so comparing the strings compares the dates.
 */
export function activityState(deadline: string, nowMs: number, timeZone: string): ActivityState {
  return stateOn(deadline, localDate(nowMs, timeZone))
}

/** The state against a "today" computed once, for lists of one assignee's activities. */
export function stateOn(deadline: string, today: string): ActivityState {
  if (deadline < today) return 'overdue'
  return deadline === today ? 'today' : 'planned'
}

export function isOpenState(state: string): state is ActivityState {
  return state === 'overdue' || state === 'today' || state === 'planned'
}

const RANK: Record<ActivityState, number> = { overdue: 0, today: 1, planned: 2 }

/** A record shows its worst state: overdue beats today beats planned; null without open activities. */
export function worstState(states: Iterable<ActivityState>): ActivityState | null {
  let worst: ActivityState | null = null
  for (const state of states) if (worst === null || RANK[state] < RANK[worst]) worst = state
  return worst
}
