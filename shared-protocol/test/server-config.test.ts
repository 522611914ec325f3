// The configuration loader both servers use: every problem at once, empty means unset, the result
// frozen; and the documentation table generated from the same schema.
import t from 'tap'
import { z } from 'zod'
import {
  booleanVariable,
  ConfigError,
  configTable,
  configVariables,
  loadConfig,
  retryScaleVariable,
} from '../src/server/config.ts'

const Schema = z
  .object({
    APP_PORT: z.coerce
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8000)
      .meta({ description: 'Port to listen on.' }),
    APP_MODE: z
      .enum(['open', 'invite'])
      .default('invite')
      .meta({ description: '`open` \\| `invite`: who may join.' }),
    APP_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .positive()
      .default(72 * 3_600_000)
      .meta({ description: 'Give up after this.' }),
    APP_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(100_000_000)
      .meta({ description: 'Largest file.' }),
    APP_DIR: z.string().optional().meta({ description: 'Where files go.', unset: '`$APP_HOME/files`' }),
  })
  .transform((e, context) => {
    if (e.APP_MODE === 'open' && e.APP_PORT === 0)
      context.addIssue({ code: 'custom', path: ['APP_MODE'], message: 'open needs a fixed port' })
    return { port: e.APP_PORT, mode: e.APP_MODE, limits: { timeoutMs: e.APP_TIMEOUT_MS }, dir: e.APP_DIR }
  })

t.test('every problem is listed at once, by variable', async (t) => {
  const error = t.throws(() =>
    loadConfig(Schema, { APP_PORT: '99999', APP_MODE: 'closed', APP_TIMEOUT_MS: 'soon' }, 'test'),
  ) as Error
  t.ok(error instanceof ConfigError)
  t.match(error.message, /^The test configuration is not valid:\n/)
  for (const name of ['APP_PORT', 'APP_MODE', 'APP_TIMEOUT_MS'])
    t.match(error.message, new RegExp(`\\n  - ${name}: `), `${name} is named`)
  t.equal(error.message.split('\n').length, 4, 'one line per problem')
})

t.test('a problem found while building the configuration names its variable', async (t) => {
  t.throws(() => loadConfig(Schema, { APP_MODE: 'open', APP_PORT: '0' }, 'test'), {
    message: 'The test configuration is not valid:\n  - APP_MODE: open needs a fixed port',
  })
})

t.test('an empty variable is unset, and the defaults apply', async (t) => {
  const config = loadConfig(Schema, { APP_PORT: '', APP_DIR: '', OTHER: 'ignored' })
  t.same(config, { port: 8000, mode: 'invite', limits: { timeoutMs: 259_200_000 }, dir: undefined })
})

t.test('the configuration is frozen, nested objects too', async (t) => {
  const config = loadConfig(Schema, { APP_PORT: '9000' })
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.limits))
  t.throws(() => {
    ;(config as { port: number }).port = 1
  }, TypeError)
  t.throws(() => {
    ;(config.limits as { timeoutMs: number }).timeoutMs = 1
  }, TypeError)
  t.equal(config.port, 9000)
})

t.test('the documentation table lists every variable with its default and description', async (t) => {
  t.same(configVariables(Schema), [
    { name: 'APP_PORT', default: '`8000`', description: 'Port to listen on.' },
    { name: 'APP_MODE', default: '`invite`', description: '`open` \\| `invite`: who may join.' },
    { name: 'APP_TIMEOUT_MS', default: '`259200000` (72 h)', description: 'Give up after this.' },
    { name: 'APP_MAX_BYTES', default: '`100000000` (100 MB)', description: 'Largest file.' },
    { name: 'APP_DIR', default: '`$APP_HOME/files`', description: 'Where files go.' },
  ])
  const lines = configTable(Schema).split('\n')
  t.equal(lines.length, 2 + 5, 'a header, a rule, a row per variable')
  t.match(lines[0], /^\| variable +\| default +\| description +\|$/)
  t.equal(new Set(lines.map((line) => line.length)).size, 1, 'columns aligned')
})

t.test('a variable without a description cannot be documented, and says so', async (t) => {
  const Undocumented = z.object({ APP_PORT: z.coerce.number().default(1), APP_SECRET: z.string().optional() })
  t.throws(() => configTable(Undocumented), { message: 'APP_PORT has no description in its schema' })
})

t.test('a yes/no variable takes true, false, 1 and 0, and nothing else', async (t) => {
  const Switch = z.object({
    APP_ON: booleanVariable.default(false).meta({ description: 'A switch.' }),
  })
  t.same(loadConfig(Switch, {}), { APP_ON: false })
  t.same(loadConfig(Switch, { APP_ON: '1' }), { APP_ON: true })
  t.same(loadConfig(Switch, { APP_ON: 'true' }), { APP_ON: true })
  t.same(loadConfig(Switch, { APP_ON: '0' }), { APP_ON: false })
  t.throws(() => loadConfig(Switch, { APP_ON: 'yes' }), { message: /\n {2}- APP_ON: / })
  t.same(configVariables(Switch), [{ name: 'APP_ON', default: '`false`', description: 'A switch.' }])
})

t.test('a retry scale is a number above 0 and at most 1', async (t) => {
  const Retries = z.object({
    APP_RETRY_SCALE: retryScaleVariable.default(1).meta({ description: 'Scales retry delays.' }),
  })
  t.same(loadConfig(Retries, {}), { APP_RETRY_SCALE: 1 })
  t.same(loadConfig(Retries, { APP_RETRY_SCALE: '0.01' }), { APP_RETRY_SCALE: 0.01 })
  t.same(loadConfig(Retries, { APP_RETRY_SCALE: '1' }), { APP_RETRY_SCALE: 1 })
  for (const refused of ['0', '-0.5', '1.5', 'fast'])
    t.throws(
      () => loadConfig(Retries, { APP_RETRY_SCALE: refused }),
      { message: /\n {2}- APP_RETRY_SCALE: / },
      `${refused} is refused`,
    )
  t.throws(() => loadConfig(Retries, { APP_RETRY_SCALE: '2' }), {
    message: /APP_RETRY_SCALE: give a number above 0 and at most 1$/,
  })
  t.same(configVariables(Retries), [
    { name: 'APP_RETRY_SCALE', default: '`1`', description: 'Scales retry delays.' },
  ])
})

t.test('the brief table has the variables and the first clause of their defaults', async (t) => {
  const Schema = z.object({
    APP_SECRET: z.string().optional().meta({
      description: 'The secret that seals the keys.',
      unset: 'read from `APP_SECRET_FILE`; without either, sealing is off',
    }),
  })
  const [full] = configTable(Schema).split('\n').slice(2)
  const lines = configTable(Schema, { brief: true }).split('\n')
  t.match(full, /sealing is off \| The secret that seals the keys\. \|$/, 'the full table has every word')
  t.match(lines[0], /^\| variable +\| default +\|$/)
  t.match(lines[2], /^\| `APP_SECRET` \| read from `APP_SECRET_FILE` \|$/)
})
