import type { z } from 'zod'
import { subtypesOfModel } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import { findPartner } from '../people/repository.ts'
import { reachesPartner } from '../policies/index.ts'
import type { FollowerChoiceSchema } from './schema.ts'
import type { Subscription } from './subscription.ts'

/**
 * Checks a partner's subscription choice on a record of a model and fills in the default: internal
 * users follow everything, contacts the discussions. Subtypes are for `custom` only, must exist on
 * the model, and an external partner cannot pick an internal one.
 */
export function checkChoice(
  tx: Tx,
  input: { modelId: number; partnerId: number; choice: z.output<typeof FollowerChoiceSchema> },
): { subscription: Subscription; subtypes: string[] } {
  const partner = findPartner(tx, input.partnerId)
  if (!partner?.active) throw new NodeError('E_INVALID_BODY', `partnerId: no partner ${input.partnerId}`)
  const subscription = input.choice.subscription ?? (partner.internal ? 'all' : 'comments')
  const keys = input.choice.subtypes ?? []
  if (subscription === 'custom') {
    const known = subtypesOfModel(tx, input.modelId)
    for (const key of keys) {
      const subtype = known.find((row) => row.key === key)
      if (!subtype)
        throw new NodeError('E_INVALID_BODY', `subtypes: "${key}" is not a subtype of this record's model`)
      if (!reachesPartner(subtype, partner))
        throw new NodeError(
          'E_INVALID_BODY',
          `subtypes: "${key}" is internal; an external contact cannot follow it`,
        )
    }
  } else if (keys.length)
    throw new NodeError('E_INVALID_BODY', 'subtypes: only for the "custom" subscription')
  return { subscription, subtypes: subscription === 'custom' ? keys : [] }
}
