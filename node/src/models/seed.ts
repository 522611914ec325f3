import type { Db } from '../db/client.ts'
import { activityTypes, mailAliases, subtypes } from '../db/schema.ts'
import { BUILTIN_MODELS } from './builtin.ts'
import { defineModel } from './define-model.ts'
import type { ModelRegistry } from './registry.ts'

/**
 * Subtypes: the subtype decides who a message may reach. Internal ones never reach external partners.
 * `tracking` carries record creation and tracked-field changes ("system messages" in the chatter).
 */
export const SUBTYPES = [
  { key: 'comment', name: 'Discussions', internal: false, isDefault: true, sequence: 0 },
  { key: 'tracking', name: 'Updates', internal: false, isDefault: true, sequence: 50 },
  { key: 'note', name: 'Notes', internal: true, isDefault: false, sequence: 90 },
  { key: 'activities', name: 'Activities', internal: true, isDefault: false, sequence: 100 },
] as const

/** The activity types a new node starts with, and their chaining. */
export const ACTIVITY_TYPES = [
  {
    key: 'todo',
    name: 'To Do',
    icon: 'square-check',
    category: 'default',
    delayCount: 5,
    chaining: 'none',
    nextTypeKeys: [],
    sequence: 1,
  },
  {
    key: 'call',
    name: 'Call',
    icon: 'phone',
    category: 'phonecall',
    delayCount: 2,
    chaining: 'suggest',
    nextTypeKeys: ['meeting', 'email'],
    sequence: 2,
  },
  {
    key: 'meeting',
    name: 'Meeting',
    icon: 'calendar',
    category: 'meeting',
    delayCount: 0,
    chaining: 'suggest',
    nextTypeKeys: ['todo'],
    sequence: 3,
  },
  {
    key: 'email',
    name: 'Email',
    icon: 'mail',
    category: 'default',
    delayCount: 0,
    chaining: 'suggest',
    nextTypeKeys: ['call'],
    sequence: 4,
  },
  {
    key: 'upload_document',
    name: 'Upload Document',
    icon: 'file-up',
    category: 'upload',
    delayCount: 5,
    chaining: 'trigger',
    nextTypeKeys: ['request_signature'],
    sequence: 5,
  },
  {
    key: 'request_signature',
    name: 'Request Signature',
    icon: 'signature',
    category: 'signature',
    delayCount: 3,
    chaining: 'suggest',
    nextTypeKeys: ['todo'],
    sequence: 6,
  },
] as const

/** The mail aliases a node starts with: a mail to sales@ is a new lead, to support@ a new ticket. */
export const MAIL_ALIASES = [
  { name: 'sales', model: 'lead' },
  { name: 'support', model: 'ticket' },
] as const

/** Creates what every node starts with, once: subtypes, activity types, built-in models, mail aliases. */
export function ensureBaseData(input: { db: Db; registry: ModelRegistry; now: number }): void {
  const { db } = input
  db.transaction((tx) => {
    for (const subtype of SUBTYPES) tx.insert(subtypes).values(subtype).onConflictDoNothing().run()
    for (const type of ACTIVITY_TYPES)
      tx.insert(activityTypes)
        .values({ ...type, nextTypeKeys: [...type.nextTypeKeys] })
        .onConflictDoNothing()
        .run()
    input.registry.load(tx)
  })
  const created = new Set<string>()
  for (const definition of BUILTIN_MODELS)
    if (!input.registry.byName(definition.name)) {
      defineModel({
        db,
        registry: input.registry,
        definition: { ...definition, builtin: true },
        now: input.now,
      })
      created.add(definition.name)
    }
  // The base aliases come with their model, on the node's first start: one an admin deleted stays
  // deleted. A node older than the aliases got them from the migration that made the table. A name
  // taken by another alias is left alone.
  db.transaction((tx) => {
    for (const alias of MAIL_ALIASES) {
      const model = input.registry.byName(alias.model)
      if (!model || !created.has(alias.model)) continue
      tx.insert(mailAliases)
        .values({ name: alias.name, modelId: model.id, contactPolicy: 'partners', createdAt: input.now })
        .onConflictDoNothing()
        .run()
    }
  })
}
