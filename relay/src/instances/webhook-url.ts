import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { RelayError } from '../errors.ts'

/**
 * The relay POSTs to URLs that instances give it, so it refuses URLs that would make it reach inside
 * its own network (SSRF): only https, and no loopback, private, link-local or unique-local address,
 * unless the operator allows them (RELAY_ALLOW_PRIVATE_WEBHOOKS, for test setups on one machine).
 * Checked at registration and again before each delivery (DNS can change).
 */
export async function checkWebhookUrl(url: string, allowPrivate: boolean): Promise<void> {
  const parsed = new URL(url)
  if (allowPrivate) return
  if (parsed.protocol !== 'https:') throw new RelayError('E_INVALID_BODY', 'webhookUrl must be https')
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  const addresses = isIP(host) ? [host] : await resolveAll(host)
  if (addresses.length === 0)
    throw new RelayError('E_INVALID_BODY', `webhookUrl host ${host} does not resolve`)
  if (addresses.some(isPrivateAddress)) {
    throw new RelayError('E_INVALID_BODY', 'webhookUrl points to a private or loopback address')
  }
}

async function resolveAll(host: string): Promise<string[]> {
  try {
    return (await lookup(host, { all: true })).map((entry) => entry.address)
  } catch {
    return []
  }
}

export function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 4) {
    const [a = 0, b = 0] = address.split('.').map(Number)
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      a >= 224
    )
  }
  const lower = address.toLowerCase()
  if (lower.startsWith('::ffff:')) return isPrivateAddress(lower.slice(7))
  return (
    lower === '::' ||
    lower === '::1' ||
    lower.startsWith('fc') ||
    lower.startsWith('fd') ||
    lower.startsWith('fe80')
  )
}
