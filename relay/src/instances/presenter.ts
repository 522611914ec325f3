import type { InstanceView } from '@ochat/shared-protocol'
import type { InstanceRow } from './repository.ts'

/** The only way an instance row becomes JSON. */
export function presentInstance(row: InstanceRow): InstanceView {
  return {
    instanceId: row.id,
    name: row.name,
    keys: { identityKey: row.identityKey, encryptionKey: row.encryptionKey },
    status: row.status === 'suspended' ? 'suspended' : 'active',
    registeredAt: row.registeredAt,
    ...(row.keysRotatedAt ? { keysRotatedAt: row.keysRotatedAt } : {}),
  }
}
