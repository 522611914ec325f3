import type { Tx } from '../db/client.ts'
import type { Model } from '../models/registry.ts'
import { findPartner, type PartnerRow } from '../people/repository.ts'
import type { RecordRow } from '../records/repository.ts'
import { followersWithPartners } from './repository.ts'

/**
 * The customers a record names in its partner fields who do not follow it: suggested as recipients
 * of "Send message", never made followers on their own. Internal and archived partners are left out.
 */
export function suggestedRecipients(tx: Tx, input: { record: RecordRow; model: Model }): PartnerRow[] {
  const following = new Set(followersWithPartners(tx, input.record.id).map((row) => row.partnerId))
  const ids = input.model.fields
    .filter((field) => field.type === 'partner')
    .map((field) => input.record.values[field.name])
    .filter((value): value is number => typeof value === 'number' && !following.has(value))
  return [...new Set(ids)]
    .map((partnerId) => findPartner(tx, partnerId))
    .filter((row): row is PartnerRow => row?.active === true && !row.internal)
}
