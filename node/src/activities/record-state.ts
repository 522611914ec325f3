import type { Tx } from '../db/client.ts'
import { localDate } from './dates.ts'
import { openDeadlinesOfRecords } from './repository.ts'
import type { ActivityState } from './schema.ts'
import { stateOn, worstState } from './state.ts'

/**
 * The worst open-activity state of each record given (records without open activities are absent),
 * each activity judged in its assignee's time zone; "today" is computed once per time zone.
 */
export function recordActivityStates(tx: Tx, recordIds: number[], nowMs: number): Map<number, ActivityState> {
  const todayIn = new Map<string, string>()
  const states = new Map<number, ActivityState[]>()
  for (const row of openDeadlinesOfRecords(tx, recordIds)) {
    let today = todayIn.get(row.timeZone)
    if (today === undefined) {
      today = localDate(nowMs, row.timeZone)
      todayIn.set(row.timeZone, today)
    }
    const list = states.get(row.recordId) ?? []
    list.push(stateOn(row.deadline, today))
    states.set(row.recordId, list)
  }
  const worst = new Map<number, ActivityState>()
  for (const [recordId, list] of states) {
    const state = worstState(list)
    if (state) worst.set(recordId, state)
  }
  return worst
}
