import type { ConnectionView } from '@ochat/shared-protocol'
import type { InstanceRow } from '../instances/repository.ts'
import type { ConnectionRow, HistoryRow } from './repository.ts'

/** A connection as `viewer` sees it: the peer is the other side. */
export function presentConnection(props: {
  row: ConnectionRow
  viewer: string
  peer: InstanceRow
  history: HistoryRow[]
}): ConnectionView {
  const { row, viewer, peer, history } = props
  return {
    id: row.id,
    requester: row.requester,
    addressee: row.addressee,
    direction: row.requester === viewer ? 'outgoing' : 'incoming',
    peer: {
      instanceId: peer.id,
      name: peer.name,
      keys: { identityKey: peer.identityKey, encryptionKey: peer.encryptionKey },
    },
    state: row.state as ConnectionView['state'],
    message: row.message,
    history: history.slice(-100).map((entry) => ({
      action: entry.action as ConnectionView['history'][number]['action'],
      state: entry.state as ConnectionView['state'],
      by: entry.by,
      at: entry.at,
      ...(entry.note ? { note: entry.note } : {}),
    })),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  }
}
