// Per-address limits on both servers count an IPv6 client by its /64.
import t from 'tap'
import { addressKey } from '../src/address-key.ts'

t.test('an IPv4 address is its own key, also when seen through a dual-stack socket', async (t) => {
  t.equal(addressKey('203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('::FFFF:203.0.113.7'), '203.0.113.7')
})

t.test('every address of one IPv6 /64 shares a key; the next /64 does not', async (t) => {
  const key = addressKey('2001:db8:1:2::1')
  t.equal(key, '2001:db8:1:2::/64')
  t.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:fffe'), key, 'written out in full')
  t.equal(addressKey('2001:db8:1:2:a:b:c:d%eth0'), key, 'with a zone')
  t.not(addressKey('2001:db8:1:3::1'), key)
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('fe80::1'), 'fe80:0:0:0::/64')
})

t.test('anything that is not an address is kept as it is', async (t) => {
  t.equal(addressKey('unknown'), 'unknown')
  t.equal(addressKey(''), '')
})
