import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { fetch } from 'undici'
import { AddressGuard, checkWebhookUrl, guardedAgent } from '../src/webhooks/address-guard.ts'

// Nothing here leaves the machine: names are "localhost" and ".invalid", servers listen on 127.0.0.1.

const guard = new AddressGuard()

t.test('addresses inside the networks around the node are refused, with the reason', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['127.0.0.1', /^127\.0\.0\.1 is a loopback address$/],
    ['127.255.0.9', /loopback/],
    ['169.254.169.254', /^169\.254\.169\.254 is the cloud metadata address/],
    ['169.254.1.1', /link-local/],
    ['[::1]', /^\[::1\] is a loopback address$/],
    ['::1', /loopback/],
    [
      '::ffff:127.0.0.1',
      /^::ffff:127\.0\.0\.1 maps to 127\.0\.0\.1, and 127\.0\.0\.1 is a loopback address$/,
    ],
    ['::ffff:7f00:1', /maps to 127\.0\.0\.1.*loopback/],
    ['::ffff:0:7f00:1', /IPv4-translated/],
    ['::ffff:169.254.169.254', /metadata/],
    ['64:ff9b::10.0.0.1', /NAT64 for 10\.0\.0\.1.*private/],
    ['64:ff9b::7f00:1', /NAT64 for 127\.0\.0\.1.*loopback/],
    ['2002:a9fe:a9fe::1', /6to4 for 169\.254\.169\.254.*metadata/],
    ['10.1.2.3', /^10\.1\.2\.3 is a private address$/],
    ['192.168.1.1', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['fd00::1', /^fd00::1 is a private address$/],
    ['fd00:ec2::254', /metadata/],
    ['fe80::1', /^fe80::1 is a link-local address$/],
    ['fe80::1%eth0', /link-local/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['240.0.0.1', /reserved/],
    ['not-an-ip', /not an IP address/],
  ]
  for (const [address, reason] of refused) t.match(guard.refusalOf(address), reason, address)
})

t.test('public addresses are allowed', async (t) => {
  for (const address of [
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2001:4860:4860::8888',
    '[2606:4700:4700::1111]',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ]) {
    t.equal(guard.refusalOf(address), null, address)
  }
})

t.test('an allowlisted address is allowed, its neighbours are not', async (t) => {
  const local = new AddressGuard(['127.0.0.1', '::1'])
  t.equal(local.refusalOf('127.0.0.1'), null)
  t.equal(local.refusalOf('::ffff:127.0.0.1'), null, 'the same address written as IPv6')
  t.equal(local.refusalOf('::1'), null)
  t.match(local.refusalOf('127.0.0.2'), /loopback/)
  t.match(local.refusalOf('169.254.169.254'), /metadata/)
})

t.test('a CIDR allowlist opens exactly its range', async (t) => {
  const office = new AddressGuard(['10.0.0.0/8', 'fd12:3456::/32'])
  t.equal(office.refusalOf('10.0.0.1'), null)
  t.equal(office.refusalOf('10.255.255.254'), null)
  t.equal(office.refusalOf('fd12:3456::9'), null)
  t.equal(office.refusalOf('11.0.0.1'), null)
  t.match(office.refusalOf('192.168.1.1'), /private/)
  t.match(office.refusalOf('fd12:3457::9'), /private/)
  t.match(office.refusalOf('127.0.0.1'), /loopback/)
})

t.test('an allowlist entry that is not an IP or CIDR is refused at start', async (t) => {
  for (const entry of ['localhost', '10.0.0.0/33', '::1/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0']) {
    t.throws(() => new AddressGuard([entry]), { name: 'RangeError', message: new RegExp(entry) }, entry)
  }
})

t.test('webhook URLs are judged by every address they reach', async (t) => {
  const refused: Array<[string, RegExp]> = [
    // The URL parser writes these IPv4 spellings as 127.0.0.1 before anything else sees them.
    ['http://2130706433/', /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f000001/', /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f.1/', /127\.0\.0\.1 is a loopback address/],
    ['http://[::1]:8080/', /::1 is a loopback address/],
    ['http://[::ffff:127.0.0.1]/', /127\.0\.0\.1 is a loopback address/],
    ['http://169.254.169.254/latest/meta-data/', /metadata/],
    ['ftp://example.com', /only http: and https:.*not ftp:/],
    ['file:///etc/passwd', /only http: and https:/],
    ['http://user:pw@example.com/', /user name or password/],
    ['http://localhost/', /^localhost resolves to 127\.0\.0\.1, and 127\.0\.0\.1 is a loopback address$/],
    ['http://nonexistent.invalid/', /^cannot resolve nonexistent\.invalid$/],
    ['not a url', /not a URL/],
  ]
  for (const [url, reason] of refused) {
    const result = await checkWebhookUrl(url, guard)
    t.match(result, { ok: false, code: 'E_WEBHOOK_URL', reason }, url)
  }
})

t.test('an allowlisted webhook URL is accepted as parsed', async (t) => {
  const local = new AddressGuard(['127.0.0.1', '::1'])
  const result = await checkWebhookUrl('http://127.0.0.1:8123/hooks?x=1', local)
  t.ok(result.ok)
  t.equal(result.ok && result.url.href, 'http://127.0.0.1:8123/hooks?x=1')
  t.match(await checkWebhookUrl('https://localhost/hooks', local), { ok: true })
  t.match(await checkWebhookUrl('http://2130706434/', local), { ok: false, reason: /127\.0\.0\.2/ })
})

async function startServer(t: Test): Promise<number> {
  const server = createServer((_request, response) => response.end('delivered'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

t.test('the guarded agent refuses at connection time what the guard refuses', async (t) => {
  const port = await startServer(t)
  const agent = guardedAgent(new AddressGuard())
  t.teardown(() => agent.close())
  const cases: Array<[string, RegExp]> = [
    // A name is judged by what it resolves to for this very connection.
    [`http://localhost:${port}/`, /localhost resolves to 127\.0\.0\.1, and 127\.0\.0\.1 is a loopback/],
    // A literal IP never reaches the resolver, so it is judged before connecting.
    [`http://127.0.0.1:${port}/`, /refused: 127\.0\.0\.1 is a loopback address/],
    [`http://2130706433:${port}/`, /refused: 127\.0\.0\.1 is a loopback address/],
  ]
  for (const [url, reason] of cases) {
    const error = await fetch(url, { dispatcher: agent }).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    t.match(error, { cause: { code: 'E_WEBHOOK_ADDRESS_REFUSED', address: '127.0.0.1' } }, url)
    t.match((error as { cause: Error }).cause.message, reason, url)
  }
})

t.test('the guarded agent delivers to an allowlisted address', async (t) => {
  const port = await startServer(t)
  const agent = guardedAgent(new AddressGuard(['127.0.0.1']), { connectTimeoutMs: 2_000 })
  t.teardown(() => agent.close())
  for (const url of [`http://localhost:${port}/`, `http://127.0.0.1:${port}/`]) {
    const response = await fetch(url, { dispatcher: agent })
    t.equal(response.status, 200, url)
    t.equal(await response.text(), 'delivered', url)
  }
})
