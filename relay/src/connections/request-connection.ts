import { addressKey, type ConnectionView, newId } from '@ochat/shared-protocol'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import { errorCode, RelayError } from '../errors.ts'
import { type InstanceRow, lockInstance } from '../instances/repository.ts'
import { countAttempt } from '../limits/rate-windows.ts'
import { presentConnection } from './presenter.ts'
import {
  countPendingIncoming,
  findLiveConnectionBetween,
  insertConnection,
  insertHistory,
} from './repository.ts'

export type RequestConnectionProps = {
  db: Db
  config: Pick<
    Config,
    'connectionRequestsPerAddressPerHour' | 'connectionRequestsPerInstancePerHour' | 'maxPendingIncoming'
  >
  requester: InstanceRow
  /** The client's address, counted against the per-address limit. */
  address: string
  /** The instance id the requester typed in. */
  to: string
  /** Shown to the other company's admin. */
  message: string
  nowMs: number
}

/**
 * When a full list of pending requests will have room is up to the addressee's admin; an hour is a
 * polite interval to try again.
 */
const PENDING_FULL_RETRY_AFTER_S = 3600

/**
 * Creates a pending connection (PROTOCOL.md §3.1); the addressee sees it as incoming. Requests are
 * counted per address and per requesting instance before anything about the addressee is looked at,
 * and an addressee with a full list of pending requests takes no more until it decides some.
 */
export async function requestConnection(props: RequestConnectionProps): Promise<ConnectionView> {
  if (props.to === props.requester.id) throw new RelayError('E_CONNECTION_SELF')
  // In a statement of its own, not in the transaction below: a refused request counts too.
  await countAttempt(props.db, {
    limits: [
      {
        kind: 'request-instance',
        key: props.requester.id,
        max: props.config.connectionRequestsPerInstancePerHour,
        what: 'connection requests from this instance',
      },
      {
        kind: 'request-address',
        key: addressKey(props.address),
        max: props.config.connectionRequestsPerAddressPerHour,
        what: 'connection requests from this address',
      },
    ],
    code: 'E_CONNECTION_RATE_LIMITED',
    nowMs: props.nowMs,
  })
  return props.db.transaction(async (tx) => {
    // Locked, so two requests at once cannot both take the last free place in its pending list.
    const addressee = await lockInstance(tx, props.to)
    // A suspended instance cannot be reached; it answers like an unknown one.
    if (addressee?.status !== 'active') {
      throw new RelayError(
        'E_NOT_FOUND',
        `no instance ${props.to} on this relay; check the id with the other company`,
      )
    }
    if (await findLiveConnectionBetween(tx, props.requester.id, addressee.id))
      throw new RelayError('E_CONNECTION_EXISTS')
    // The requester learns only that the addressee takes no more requests now, not how many it has.
    if ((await countPendingIncoming(tx, addressee.id)) >= props.config.maxPendingIncoming) {
      throw new RelayError(
        'E_CONNECTION_REQUESTS_FULL',
        'the instance takes no more requests now; try again later',
        {
          headers: { 'retry-after': String(PENDING_FULL_RETRY_AFTER_S) },
        },
      )
    }
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
