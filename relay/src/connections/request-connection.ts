import { type ConnectionView, newId } from '@ochat/shared-protocol'
import type { Db } from '../db/client.ts'
import { errorCode, RelayError } from '../errors.ts'
import { findInstance, type InstanceRow } from '../instances/repository.ts'
import { presentConnection } from './presenter.ts'
import { findLiveConnectionBetween, insertConnection, insertHistory } from './repository.ts'

export type RequestConnectionProps = {
  db: Db
  requester: InstanceRow
  /** The instance id the requester typed in. */
  to: string
  /** Shown to the other company's admin. */
  message: string
  nowMs: number
}

/** Creates a pending connection (PROTOCOL.md §3.1); the addressee sees it as incoming. */
export async function requestConnection(props: RequestConnectionProps): Promise<ConnectionView> {
  if (props.to === props.requester.id) throw new RelayError('E_CONNECTION_SELF')
  return props.db.transaction(async (tx) => {
    const addressee = await findInstance(tx, props.to)
    // A suspended instance cannot be reached; it answers like an unknown one.
    if (addressee?.status !== 'active') {
      throw new RelayError(
        'E_NOT_FOUND',
        `no instance ${props.to} on this relay; check the id with the other company`,
      )
    }
    if (await findLiveConnectionBetween(tx, props.requester.id, addressee.id))
      throw new RelayError('E_CONNECTION_EXISTS')
    const row = {
      id: newId(props.nowMs),
      requester: props.requester.id,
      addressee: addressee.id,
      state: 'pending',
      message: props.message,
      createdAt: props.nowMs,
      updatedAt: props.nowMs,
      requesterSeq: 0,
      addresseeSeq: 0,
    }
    try {
      await insertConnection(tx, row)
    } catch (error) {
      // Two requests crossing: the partial unique index on the pair decides.
      if (errorCode(error) === '23505') throw new RelayError('E_CONNECTION_EXISTS')
      throw error
    }
    const entry = {
      connectionId: row.id,
      action: 'request',
      state: 'pending',
      by: props.requester.id,
      at: props.nowMs,
      note: props.message || null,
    }
    await insertHistory(tx, entry)
    return presentConnection({
      row,
      viewer: props.requester.id,
      peer: addressee,
      history: [{ id: 0, ...entry }],
    })
  })
}
