import type { ConnectionView } from '@ochat/shared-protocol'
import type { Executor } from '../db/client.ts'
import { RelayError } from '../errors.ts'
import { authorize, maySeeConnection } from '../policies.ts'
import { presentConnection } from './presenter.ts'
import { findConnection, historyOf, instancesByIds, listConnectionsOf } from './repository.ts'

/** Every connection the instance is part of (the connections it may see), both directions, with history. */
export async function listConnections(props: { db: Executor; viewer: string }): Promise<ConnectionView[]> {
  const rows = await listConnectionsOf(props.db, props.viewer)
  const peers = await instancesByIds(
    props.db,
    rows.map((row) => (row.requester === props.viewer ? row.addressee : row.requester)),
  )
  const history = await historyOf(
    props.db,
    rows.map((row) => row.id),
  )
  return rows.flatMap((row) => {
    const peer = peers.get(row.requester === props.viewer ? row.addressee : row.requester)
    return peer
      ? [presentConnection({ row, viewer: props.viewer, peer, history: history.get(row.id) ?? [] })]
      : []
  })
}

export async function getConnection(props: {
  db: Executor
  viewer: string
  id: string
}): Promise<ConnectionView> {
  const row = await findConnection(props.db, props.id)
  authorize(row && maySeeConnection(row, props.viewer))
  const peerId = row.requester === props.viewer ? row.addressee : row.requester
  const peer = (await instancesByIds(props.db, [peerId])).get(peerId)
  if (!peer) throw new RelayError('E_NOT_FOUND')
  const history = (await historyOf(props.db, [row.id])).get(row.id) ?? []
  return presentConnection({ row, viewer: props.viewer, peer, history })
}
