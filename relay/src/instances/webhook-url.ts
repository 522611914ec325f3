import type { LookupAddress } from 'node:dns'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { Agent } from 'undici'
import { RelayError } from '../errors.ts'

/**
 * The relay POSTs to URLs that instances give it, so it must not be made to reach inside its own
 * network (SSRF). Only https, and no loopback, private, link-local, unique-local, or IPv4 address hidden
 * in IPv6 (mapped, compatible, NAT64, 6to4) — unless the operator allows it for a test setup on one
 * machine (RELAY_ALLOW_PRIVATE_WEBHOOKS). Checked at registration, and again at connect time through
 * `webhookAgent`, whose DNS lookup refuses private answers, so a name that changes its answer
 * (DNS rebinding) cannot slip through between the check and the connection.
 */
export async function checkWebhookUrl(url: string, allowPrivate: boolean): Promise<void> {
  const parsed = new URL(url)
  if (allowPrivate) return
  const refusal = new RelayError('E_INVALID_BODY', 'webhookUrl must be a public https address')
  if (parsed.protocol !== 'https:') throw refusal
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  const addresses = isIP(host) ? [host] : await resolveAll(host)
  // One answer for "does not resolve" and "private": the relay is not a probe of internal DNS.
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) throw refusal
}

async function resolveAll(host: string): Promise<string[]> {
  try {
    return (await lookup(host, { all: true })).map((entry) => entry.address)
  } catch {
    return []
  }
}

/** An undici dispatcher for webhook POSTs whose connections can only reach public addresses. */
export function webhookAgent(allowPrivate: boolean): Agent {
  if (allowPrivate) return new Agent()
  return new Agent({
    connect: {
      lookup(hostname, options, callback) {
        lookup(hostname, { all: true })
          .then((answers: LookupAddress[]) => {
            const allowed = answers.filter((answer) => !isPrivateAddress(answer.address))
            if (allowed.length === 0 || allowed.length !== answers.length) {
              callback(
                Object.assign(new Error('webhook host resolves to a private address'), { code: 'EPRIVATE' }),
                '',
                0,
              )
              return
            }
            if ((options as { all?: boolean }).all)
              (callback as (e: null, a: LookupAddress[]) => void)(null, allowed)
            else callback(null, allowed[0]?.address ?? '', allowed[0]?.family ?? 4)
          })
          .catch((error: Error) => callback(error as NodeJS.ErrnoException, '', 0))
      },
    },
  })
}

export function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 4) return isPrivateIpv4(address.split('.').map(Number))
  if (isIP(address) !== 6) return true
  const words = ipv6Words(address)
  if (!words) return true
  const [w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0] = words
  const embedded = [w6 >> 8, w6 & 0xff, w7 >> 8, w7 & 0xff]
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0 && w4 === 0) {
    // ::, ::1, ::a.b.c.d (compatible) and ::ffff:a.b.c.d (mapped)
    if (w5 === 0 || w5 === 0xffff) return w5 === 0 && w6 === 0 && w7 <= 1 ? true : isPrivateIpv4(embedded)
  }
  if (w0 === 0x64 && w1 === 0xff9b) return isPrivateIpv4(embedded) // NAT64 64:ff9b::/96
  if (w0 === 0x2002) return isPrivateIpv4([w1 >> 8, w1 & 0xff, w2 >> 8, w2 & 0xff]) // 6to4
  if ((w0 & 0xfe00) === 0xfc00) return true // unique local fc00::/7
  if ((w0 & 0xffc0) === 0xfe80) return true // link-local fe80::/10
  if ((w0 & 0xff00) === 0xff00) return true // multicast
  return false
}

function isPrivateIpv4([a = 0, b = 0]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224
  )
}

/** The eight 16-bit words of an IPv6 address, with :: expanded and a dotted IPv4 tail converted. */
function ipv6Words(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/%.*$/, '')
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split('.').map(Number)
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const left = head ? head.split(':') : []
  const right = tail !== undefined && tail !== '' ? tail.split(':') : []
  const missing = 8 - left.length - right.length
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined
  const words = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right].map(
    (word) => Number.parseInt(word, 16),
  )
  return words.length === 8 && words.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffff)
    ? words
    : undefined
}
