import { BlockList, isIP, isIPv4 } from 'node:net'
import { sql } from 'drizzle-orm'
import { type Executor, rows } from '../db/client.ts'

export type RegistrationFilter = {
  /** Only these instances. */
  ids?: string[]
  /** Registered at or after this time, in ms. */
  since?: number
  /** Registered from this address, or from an address in this CIDR range. */
  address?: string
  /** With at least this many of its own connection requests still pending. */
  pendingRequestsMin?: number
  status?: 'active' | 'suspended'
}

/** What the operator needs to tell a company from a spam registration. */
export type Registration = {
  id: string
  name: string
  status: string
  registeredAt: number
  /** Null once past the metadata retention, and for instances registered before it was kept. */
  registeredFrom: string | null
  webhookUrl: string | null
  /** Connection requests it sent, in any state, and those still pending. */
  requestsSent: number
  requestsPending: number
  /** Requests to it that it has not decided yet. */
  incomingPending: number
}

/** Turns an address or CIDR range into a matcher; undefined if it is neither. */
export function addressMatcher(value: string): ((address: string | null) => boolean) | undefined {
  const [address = '', prefix, ...rest] = value.split('/')
  const type = isIPv4(address) ? 'ipv4' : 'ipv6'
  if (!isIP(address) || rest.length > 0) return undefined
  const list = new BlockList()
  if (prefix === undefined) list.addAddress(address, type)
  else {
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1
    if (bits < 0 || bits > (type === 'ipv4' ? 32 : 128)) return undefined
    list.addSubnet(address, bits, type)
  }
  return (candidate) => {
    if (!candidate) return false
    const kind = isIP(candidate)
    return kind !== 0 && list.check(candidate, kind === 4 ? 'ipv4' : 'ipv6')
  }
}

/** Registered instances, oldest first, with their connection request counts. */
export async function listRegistrations(
  executor: Executor,
  filter: RegistrationFilter = {},
): Promise<Registration[]> {
  const conditions = [
    filter.ids
      ? sql`i.id in (select jsonb_array_elements_text(${JSON.stringify(filter.ids)}::jsonb))`
      : sql`true`,
    filter.since !== undefined ? sql`i.registered_at >= ${filter.since}` : sql`true`,
    filter.status ? sql`i.status = ${filter.status}` : sql`true`,
  ]
  const found = await rows<Registration>(
    executor,
    sql`select i.id, i.name, i.status, i.registered_at::float8 as "registeredAt",
          i.registered_from as "registeredFrom", i.webhook_url as "webhookUrl",
          (select count(*)::int from connections c where c.requester = i.id) as "requestsSent",
          (select count(*)::int from connections c where c.requester = i.id and c.state = 'pending')
            as "requestsPending",
          (select count(*)::int from connections c where c.addressee = i.id and c.state = 'pending')
            as "incomingPending"
        from instances i
        where ${sql.join(conditions, sql` and `)}
        order by i.registered_at, i.id`,
  )
  const inRange = filter.address === undefined ? undefined : addressMatcher(filter.address)
  if (filter.address !== undefined && !inRange)
    throw new Error(`not an address or CIDR range: ${filter.address}`)
  return found.filter(
    (row) =>
      (!inRange || inRange(row.registeredFrom)) && row.requestsPending >= (filter.pendingRequestsMin ?? 0),
  )
}
