import t from 'tap'
import { buildNode, buildPartner, buildRecord, buildUser } from './helpers.ts'

t.test(
  'each model with a stage has a "Stage Changed" subtype a follower can follow on its own',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah' })
    const manager = await buildUser(node, { name: 'Manager' })
    const customer = buildPartner(node, { name: 'Carla' })
    const lead = await buildRecord(sarah, 'lead', { stage: 'new' })

    const leadSubtypes = await sarah.call('GET', '/api/v1/subtypes?model=lead')
    t.same(leadSubtypes.body.items.map((row: { key: string }) => row.key).sort(), [
      'activities',
      'comment',
      'lead.stage',
      'note',
      'tracking',
    ])
    const general = await sarah.call('GET', '/api/v1/subtypes')
    t.notOk(
      general.body.items.some((row: { key: string }) => row.key.includes('.')),
      'model subtypes are listed with their model',
    )

    // The manager wants to hear about stage changes only; the customer about stage changes and messages.
    const follow = (partnerId: number, subtypes: string[]) =>
      sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
        partnerId,
        subscription: 'custom',
        subtypes,
      })
    t.equal((await follow(manager.partnerId, ['lead.stage'])).status, 201)
    t.equal((await follow(customer.id, ['lead.stage', 'comment'])).status, 201)
    const wrongModel = await follow(manager.partnerId, ['task.stage'])
    t.equal(wrongModel.status, 400, "another model's subtype is refused")
    t.match(wrongModel.body.error.reason, /not a subtype of this record's model/)

    const inbox = async () => (await manager.call('GET', '/api/v1/inbox')).body.items.length
    const customerMails = () =>
      (
        node.database.sqlite
          .prepare('select count(*) as n from email_notifications where partner_id = ?')
          .get(customer.id) as { n: number }
      ).n

    let version = lead.version
    const write = async (values: Record<string, unknown>) => {
      const response = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, { version, values })
      t.equal(response.status, 200)
      version = response.body.version
    }
    await write({ priority: 'high' })
    t.equal(await inbox(), 0, 'another tracked change does not reach a stage-only follower')
    t.equal(customerMails(), 0)
    await write({ stage: 'qualified' })
    t.equal(await inbox(), 1, 'the stage change does')
    t.equal(customerMails(), 1, 'and the customer is emailed about it')
    const chatter = await sarah.call('GET', `/api/v1/records/${lead.id}/messages?kind=tracking&limit=1`)
    t.equal(chatter.body.items[0].subtype, 'lead.stage')
    t.same(
      chatter.body.items[0].tracking.map((value: { label: string; new: string }) => [value.label, value.new]),
      [['Stage', 'Qualified']],
    )
  },
)

t.test('a custom model with a stage gets its own Stage Changed subtype too', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_claim',
    label: 'Claim',
    fields: [
      { name: 'name', label: 'Name', type: 'char', required: true },
      {
        name: 'stage',
        label: 'Stage',
        type: 'selection',
        trackingSequence: 1,
        options: {
          choices: [
            { value: 'open', label: 'Open' },
            { value: 'closed', label: 'Closed' },
          ],
        },
      },
    ],
  })
  t.equal(defined.status, 201)
  const subtypes = await admin.call('GET', '/api/v1/subtypes?model=x_claim')
  t.ok(subtypes.body.items.some((row: { key: string; name: string }) => row.key === 'x_claim.stage'))
  const claim = await buildRecord(admin, 'x_claim', { stage: 'open' })
  const moved = await admin.call('PATCH', `/api/v1/records/${claim.id}`, {
    version: claim.version,
    values: { stage: 'closed' },
  })
  t.equal(moved.status, 200)
  const chatter = await admin.call('GET', `/api/v1/records/${claim.id}/messages?kind=tracking&limit=1`)
  t.equal(chatter.body.items[0].subtype, 'x_claim.stage')
  t.equal((await admin.call('GET', '/api/v1/subtypes?model=nope')).status, 404)
})
