import { addressKey, type ConnectionView, newId } from '@ochat/shared-protocol'
import type { Db } from '../db/client.ts'
import { errorCode, RelayError } from '../errors.ts'
import { type InstanceRow, lockInstance } from '../instances/repository.ts'
import { countAttempt } from '../limits/rate-windows.ts'
import { mayBeAskedToConnect } from '../policies.ts'
import type { ConnectionRequestSettings } from '../settings.ts'
import { presentConnection } from './presenter.ts'
import {
  findLiveConnectionBetween,
  insertConnection,
  insertHistory,
  lastRejectionSince,
  pendingIncomingRequesters,
} from './repository.ts'

export type RequestConnectionProps = {
  db: Db
  config: ConnectionRequestSettings
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

/** After a rejection, how long the requester waits before asking the same instance again: 24 h. */
export const REJECTION_COOL_DOWN_MS = 86_400_000

/**
 * Creates a pending connection (PROTOCOL.md §3.1); the addressee sees it as incoming. Requests are
 * counted per address and per requesting instance before anything about the addressee is looked at.
 * An addressee with a full list of pending requests takes no more until it decides some; instances
 * registered from one address share two places in that list, and a rejected requester waits a day.
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
    // Both rows locked, in id order so two requests between the same pair cannot deadlock: a purge of
    // either instance (which locks its row first) cannot commit between these checks and the insert,
    // and two requests at once cannot both take the last free place in the addressee's list.
    const locked = new Map<string, InstanceRow | undefined>()
    for (const id of [props.requester.id, props.to].sort()) locked.set(id, await lockInstance(tx, id))
    // Authenticated a moment ago, but purged or suspended since: nothing may be left behind for it.
    const requester = locked.get(props.requester.id)
    if (!requester) throw new RelayError('E_AUTH_REQUIRED', 'this instance is no longer registered here')
    if (requester.status !== 'active') throw new RelayError('E_SUSPENDED')
    const addressee = locked.get(props.to)
    // A suspended instance cannot be reached; it answers like an unknown one.
    if (!addressee || !mayBeAskedToConnect(addressee)) {
      throw new RelayError(
        'E_NOT_FOUND',
        `no instance ${props.to} on this relay; check the id with the other company`,
      )
    }
    if (await findLiveConnectionBetween(tx, props.requester.id, addressee.id))
      throw new RelayError('E_CONNECTION_EXISTS')
    // A rejection stands for a day: asking again at once would put the request straight back in the list.
    const rejectedAt = await lastRejectionSince(tx, {
      requester: props.requester.id,
      addressee: addressee.id,
      sinceMs: props.nowMs - REJECTION_COOL_DOWN_MS,
    })
    if (rejectedAt !== undefined) {
      const retryAfterS = Math.max(1, Math.ceil((rejectedAt + REJECTION_COOL_DOWN_MS - props.nowMs) / 1000))
      throw new RelayError(
        'E_CONNECTION_RECENTLY_REJECTED',
        `the instance rejected your request; you may ask again in ${retryAfterS} s`,
        { headers: { 'retry-after': String(retryAfterS) } },
      )
    }
    const pending = await pendingIncomingRequesters(tx, addressee.id)
    // Instances registered from one address (IPv6: one /64) share a few places in the list, so one
    // sender with many instances cannot fill it and lock everyone else out. Those whose address was
    // forgotten after the retention are not grouped.
    const group = requester.registeredFrom === null ? null : addressKey(requester.registeredFrom)
    if (
      group !== null &&
      pending.filter((entry) => entry.registeredFrom !== null && addressKey(entry.registeredFrom) === group)
        .length >= props.config.maxPendingIncomingPerAddress
    ) {
      throw new RelayError(
        'E_CONNECTION_RATE_LIMITED',
        // Not how many wait, nor from whom: only that this address has its share.
        'the instance takes no more requests from instances registered from your address now; try again later',
        { headers: { 'retry-after': String(PENDING_FULL_RETRY_AFTER_S) } },
      )
    }
    // The requester learns only that the addressee takes no more requests now, not how many it has.
    if (pending.length >= props.config.maxPendingIncoming) {
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
