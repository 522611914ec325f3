import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { Effects } from '../live/events.ts'
import { activityWebhook } from '../webhooks/emit.ts'
import { type ActivityRow, updateOpenActivity } from './repository.ts'
import { assertOpen } from './update-activity.ts'

/**
 * Cancels an open activity. The row is kept with status `canceled`, not deleted, so reports can
 * count what was dropped.
 */
export function cancelActivity(
  tx: Tx,
  input: { activity: ActivityRow; now: number; effects: Effects },
): ActivityRow {
  assertOpen(input.activity)
  const updated = updateOpenActivity(tx, input.activity.id, { status: 'canceled', updatedAt: input.now })
  if (!updated) throw new NodeError('E_ACTIVITY_CLOSED')
  activityWebhook(tx, 'activity.canceled', { activity: updated, now: input.now })
  input.effects.events.push(
    { scope: 'record', recordId: updated.recordId, type: 'activities.changed' },
    { scope: 'user', userId: updated.assigneeId, type: 'activities.changed' },
  )
  return updated
}
