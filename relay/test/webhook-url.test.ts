// SSRF: webhook URLs that would make the relay reach inside its own network are refused.
import t from 'tap'
import { checkWebhookUrl, isPrivateAddress } from '../src/instances/webhook-url.ts'

t.test('private, loopback and IPv4-in-IPv6 addresses are private; public ones are not', async (t) => {
  for (const address of [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::',
    'fe80::1',
    'febf::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
  ]) {
    t.ok(isPrivateAddress(address), `${address} is private`)
  }
  for (const address of [
    '93.184.216.34',
    '8.8.8.8',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::',
  ]) {
    t.notOk(isPrivateAddress(address), `${address} is public`)
  }
  t.ok(isPrivateAddress('not-an-address'), 'anything unparseable counts as private')
})

t.test('registration URLs: https to a public address only, with one answer for every refusal', async (t) => {
  for (const url of [
    'http://93.184.216.34/hook',
    'https://127.0.0.1/hook',
    'https://[::ffff:7f00:1]/hook',
    'https://localhost/hook',
    'https://no-such-host.invalid/hook',
  ]) {
    await t.rejects(
      checkWebhookUrl(url, false),
      { code: 'E_INVALID_BODY', detail: 'webhookUrl must be a public https address' },
      url,
    )
  }
  await t.resolves(checkWebhookUrl('https://93.184.216.34/ochat/webhook', false))
  await t.resolves(checkWebhookUrl('http://127.0.0.1:9/ochat/webhook', true), 'allowed for test setups')
})

t.test('at connect time the lookup refuses private answers, so a name cannot rebind to one', async (t) => {
  const { createServer } = await import('node:http')
  const { request } = await import('undici')
  const { webhookAgent } = await import('../src/instances/webhook-url.ts')
  const server = createServer((_request, response) => response.end('reached'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const address = server.address()
  const port = address && typeof address === 'object' ? address.port : 0
  const agent = webhookAgent(false)
  t.teardown(() => agent.close())
  // "localhost" passes no IP check by itself: it is the lookup that must refuse it.
  await t.rejects(request(`http://localhost:${port}/`, { dispatcher: agent }), { code: 'EPRIVATE' })
})
