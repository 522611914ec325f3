import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import t, { type Test } from 'tap'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { createTestDatabase } from '../../relay/test/helpers.ts'
import { repositoryRoot } from '../repository-root.ts'
import {
  checkCompose,
  checkManifest,
  exportedSeries,
  type Json,
  METRIC_SOURCES,
  metricNames,
  parseDockerfile,
} from './checks.ts'

/**
 * The operator's files under deploy/, checked as far as this machine can without a container engine or
 * a cluster: compose and the manifests against their official schemas, the units by systemd itself,
 * the install script by running it and starting what it installed.
 */

const root = repositoryRoot(import.meta.url)
const DEPLOY = join(root, 'deploy')
const read = (path: string) => readFileSync(join(DEPLOY, path), 'utf8')

/** Every file below `dir` whose name ends with `suffix`, as paths from deploy/. */
function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(join(DEPLOY, dir), { recursive: true })
    .map((name) => join(dir, String(name)))
    .filter((path) => path.endsWith(suffix))
    .sort()
}

/** A mapping's entries, or none: the YAML documents are untyped until checked. */
function entries(value: Json | undefined): Record<string, Json> {
  return value && typeof value === 'object' && !Array.isArray(value) ? value : {}
}
const list = (value: Json | undefined): Json[] => (Array.isArray(value) ? value : [])

t.test(
  'compose.yaml is valid under the Compose Specification, and every service is locked down',
  async (t) => {
    // Merge keys (<<) as Compose reads them: both relay replicas come from one block.
    const compose: Json = parseYaml(read('compose.yaml'), { merge: true })
    t.same(checkCompose(compose), [], 'valid under compose-spec.json')

    const services = entries(entries(compose).services)
    t.same(Object.keys(services).sort(), ['caddy', 'node', 'postgres', 'relay-1', 'relay-2'])
    for (const [name, service] of Object.entries(services)) {
      const s = entries(service)
      t.equal(s.read_only, true, `${name}: read-only root filesystem`)
      t.ok(list(s.tmpfs).includes('/tmp'), `${name}: /tmp is a tmpfs`)
      t.equal(s.restart, 'unless-stopped', `${name}: restarted`)
      t.ok(list(entries(s.healthcheck).test).length > 0, `${name}: has a healthcheck`)
    }
    t.equal(entries(services['relay-1']).image, entries(services['relay-2']).image, 'one relay image, twice')
    t.same(
      entries(entries(services['relay-1']).depends_on).postgres,
      { condition: 'service_healthy' },
      'relays wait for PostgreSQL to be ready',
    )
    t.match(entries(services.postgres).image, /^postgres:16/)
    t.ok(list(entries(services.caddy).ports).includes('443:443'), 'Caddy takes HTTPS')
    t.match(read('proxy/compose.Caddyfile'), /max_size 110MB/, 'Caddy lets 100 MB attachments through')

    // The schema bites: a misspelt key and a wrong type are refused.
    const broken = structuredClone(compose)
    entries(entries(entries(broken).services).node).read_only = 'yes'
    entries(entries(entries(entries(broken).services).node).healthcheck).intervall = '5s'
    const problems = checkCompose(broken)
    t.ok(
      problems.some((problem) => problem.includes('/services/node/read_only')),
      'a string for read_only is refused',
    )
    t.ok(
      problems.some((problem) => problem.includes('intervall')),
      'an unknown healthcheck key is refused',
    )
  },
)

t.test(
  'every Kubernetes manifest is valid under the Kubernetes schemas, and kustomize lists each',
  async (t) => {
    const files = filesUnder('k8s', '.yaml')
    const kustomizations = files.filter((path) => path.endsWith('kustomization.yaml'))
    const manifests = files.filter((path) => !path.endsWith('kustomization.yaml'))

    // Every resource a kustomization names exists, and every manifest is named by one.
    const listed = new Set<string>()
    for (const path of kustomizations) {
      for (const resource of list(entries(parseYaml(read(path))).resources)) {
        const target = join(dirname(path), String(resource))
        t.ok(existsSync(join(DEPLOY, target)), `${path} names ${resource}, which exists`)
        listed.add(target)
      }
    }
    for (const path of manifests) t.ok(listed.has(path), `${path} is in its kustomization.yaml`)

    const byKind = new Map<string, Record<string, Json>>()
    for (const path of manifests) {
      for (const document of parseAllDocuments(read(path))) {
        t.same(document.errors, [], `${path} is YAML`)
        const manifest: Json = document.toJS()
        const { kind, metadata } = entries(manifest)
        t.same(checkManifest(manifest), [], `${path}: ${kind} ${entries(metadata).name}`)
        byKind.set(`${kind}/${entries(metadata).name}`, entries(manifest))
      }
    }

    // What an operator relies on, beyond the schema.
    const relaySpec = entries(byKind.get('Deployment/ochat-relay')?.spec)
    t.equal(relaySpec.replicas, 2)
    const relayPod = entries(entries(relaySpec.template).spec)
    const relay = entries(list(relayPod.containers)[0])
    t.equal(entries(entries(relay.readinessProbe).httpGet).path, '/readyz')
    t.equal(entries(entries(relay.livenessProbe).httpGet).path, '/healthz')
    for (const name of ['Deployment/ochat-relay', 'StatefulSet/ochat-node']) {
      const pod = entries(entries(entries(byKind.get(name)?.spec).template).spec)
      const container = entries(list(pod.containers)[0])
      t.equal(entries(pod.securityContext).runAsNonRoot, true, `${name}: not root`)
      t.equal(entries(container.securityContext).readOnlyRootFilesystem, true, `${name}: read-only root`)
      t.equal(entries(container.securityContext).allowPrivilegeEscalation, false, `${name}: no escalation`)
    }
    const pdb = entries(byKind.get('PodDisruptionBudget/ochat-relay')?.spec)
    t.same(pdb.selector, relaySpec.selector, 'the disruption budget covers the relay pods')
    const node = entries(byKind.get('StatefulSet/ochat-node')?.spec)
    t.equal(node.replicas, 1, 'one node process per SQLite file')
    t.equal(list(node.volumeClaimTemplates).length, 1, 'the node keeps its data on a volume of its own')
    const annotations = entries(entries(byKind.get('Ingress/ochat-relay')?.metadata).annotations)
    t.equal(annotations['nginx.ingress.kubernetes.io/proxy-body-size'], '110m')
    t.equal(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600', 'sockets stay open')

    const wrong = structuredClone(byKind.get('Deployment/ochat-relay') ?? {})
    entries(wrong.spec).replicas = 'two'
    t.match(checkManifest(wrong), [/\/spec\/replicas/], 'the schema bites: replicas must be a number')
  },
)

t.test('the systemd units pass systemd-analyze verify and are sandboxed', async (t) => {
  const analyze = '/usr/bin/systemd-analyze'
  const units = ['systemd/ochat-relay.service', 'systemd/ochat-node.service']
  if (!existsSync(analyze)) {
    t.fail(`${analyze} is missing: install the systemd package`)
    return
  }
  // Checks the syntax, every directive's value, and that ExecStart's program (/usr/bin/node) exists.
  const verify = await run(
    analyze,
    ['verify', ...units.map((unit) => join(DEPLOY, unit))],
    { PATH: process.env.PATH ?? '' },
    tmpdir(),
  )
  t.equal(verify.code, 0, verify.output)
  t.equal(verify.output, '', 'no warning')

  for (const unit of units) {
    const text = read(unit)
    const has = (line: string) => t.ok(text.split('\n').includes(line), `${unit}: ${line}`)
    for (const line of [
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'NoNewPrivileges=yes',
      'CapabilityBoundingSet=',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      'SystemCallFilter=@system-service',
      'Restart=on-failure',
      'TimeoutStopSec=30s',
      'User=ochat',
    ])
      has(line)
    t.match(text, /^StateDirectory=ochat-(relay|node)$/m)
    t.match(text, /^ExecStartPre=\/usr\/bin\/node \S+ migrate$/m, `${unit}: migrates before it starts`)
  }
})

t.test('the Dockerfiles copy files that exist, run as a non-root user, with a healthcheck', async (t) => {
  for (const [server, port] of [
    ['relay', '8700'],
    ['node', '8800'],
  ] as const) {
    const file = `${server}.Dockerfile`
    const stages = parseDockerfile(read(file))
    t.ok(stages.length >= 2, `${file}: multi-stage`)
    for (const stage of stages) t.equal(stage.from, 'node:20-bookworm-slim', `${file}: ${stage.from}`)
    for (const stage of stages) {
      for (const copy of stage.copies) {
        if (copy.fromStage) continue
        for (const source of copy.sources)
          t.ok(existsSync(join(root, source)), `${file}: COPY ${source} (from the repository's root)`)
      }
    }
    const final = stages.at(-1)
    t.ok(final, `${file} has a final stage`)
    if (!final) continue
    t.ok(final.user && !/^(root|0)(:|$)/.test(final.user), `${file}: runs as ${final.user}, not root`)
    t.match(final.healthcheck, new RegExp(`http://127\\.0\\.0\\.1:${port}/healthz`), `${file}: healthcheck`)
    t.ok(final.expose.includes(port), `${file}: EXPOSE ${port}`)
    t.equal(final.stopSignal, 'SIGTERM')
    t.match(
      stages[0]?.runs.join('\n'),
      new RegExp(`deploy/install\\.sh ${server} `),
      `${file}: installs with deploy/install.sh`,
    )
  }
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n')
  t.ok(ignored.includes('**/node_modules'), 'the build context leaves node_modules out')
  t.ok(ignored.includes('deploy/env/*.env'), 'and the filled-in env files, with their passwords')
})

t.test('the alerts and the dashboard use only metrics that are exported', async (t) => {
  // The relay's and the node's own, from their sources; the rest from the exporters deploy/README.md names.
  const [relayMetrics = [], nodeMetrics = []] = METRIC_SOURCES.map((file) =>
    exportedSeries(readFileSync(join(root, file), 'utf8')),
  )
  const exported = new Set([
    ...relayMetrics,
    ...nodeMetrics,
    'up',
    'node_filesystem_avail_bytes',
    'node_filesystem_size_bytes',
    'kubelet_volume_stats_available_bytes',
    'kubelet_volume_stats_capacity_bytes',
  ])
  t.ok(relayMetrics.length >= 5, 'the relay metrics were found in its source')
  t.ok(nodeMetrics.length >= 5, "and the node's in its own")

  const rules = list(entries(parseYaml(read('monitoring/alerts.yaml'))).groups).flatMap((group) =>
    list(entries(group).rules).map(entries),
  )
  const dashboard: Json = JSON.parse(read('monitoring/grafana-dashboard.json'))
  const panels = list(entries(dashboard).panels).map(entries)
  const expressions = [
    ...rules.map((rule) => String(rule.expr)),
    ...panels.flatMap((panel) => list(panel.targets).map((target) => String(entries(target).expr))),
  ]
  for (const expr of expressions) {
    const names = metricNames(expr)
    t.ok(names.length > 0, `${expr} reads a metric`)
    for (const name of names) t.ok(exported.has(name), `${name} is exported`)
  }
  for (const rule of rules) t.match(rule, { alert: /^Ochat/, expr: String, labels: { severity: String } })

  const used = new Set(expressions.flatMap(metricNames))
  for (const wanted of [
    'ochat_relay_queue_depth',
    'ochat_relay_queue_oldest_age_seconds',
    'ochat_relay_deliveries_total',
    'node_filesystem_avail_bytes',
    'ochat_node_mail_failed',
    'ochat_node_mail_oldest_queued_age_seconds',
    'ochat_node_webhook_messages_failed_last_hour',
    'ochat_node_automation_queue_depth',
  ])
    t.ok(
      used.has(wanted),
      `queue depth, delivery lag, failed deliveries, the mail queue, webhooks, rules and disk are watched: ${wanted}`,
    )
  t.equal(new Set(panels.map((panel) => panel.id)).size, panels.length, 'panel ids are unique')
})

t.test(
  'install.sh installs each server offline into its own directory, and it starts from there',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ochat-install-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const script = join(DEPLOY, 'install.sh')
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir }
    const [relayInstall, nodeInstall] = await Promise.all(
      (['relay', 'node'] as const).map((server) =>
        run('bash', [script, server, join(dir, server), '--offline'], env, root),
      ),
    )
    t.equal(relayInstall?.code, 0, relayInstall?.output ?? '')
    t.equal(nodeInstall?.code, 0, nodeInstall?.output ?? '')

    for (const server of ['relay', 'node']) {
      const shared = realpathSync(join(dir, server, 'node_modules/@ochat/shared-protocol'))
      t.equal(relative(root, shared).startsWith('..'), true, `${server}: shared-protocol is copied in`)
      t.notOk(existsSync(join(dir, server, 'node_modules/drizzle-kit')), `${server}: no dev dependency`)
      t.notOk(existsSync(join(dir, server, 'test')), `${server}: no tests`)
    }

    // Each starts from its directory alone, with only its settings, as its service would.
    const { database, url } = await createTestDatabase(t, 'postgres', { empty: true })
    await database.close()
    const relay = await serve(t, {
      bin: join(dir, 'relay/bin/ochat-relay.mjs'),
      cwd: join(dir, 'relay'),
      env: { ...env, DATABASE_URL: url ?? '', RELAY_PORT: '0', RELAY_DATA_DIR: join(dir, 'relay-data') },
      listening: /relay listening on (http:\/\/[^"\s]+)/,
    })
    const node = await serve(t, {
      bin: join(dir, 'node/bin/ochat-node.mjs'),
      cwd: join(dir, 'node'),
      env: { ...env, NODE_PORT: '0', NODE_DATA_DIR: join(dir, 'node-data') },
      listening: /node listening on (http:\/\/[^"\s]+)/,
    })
    t.equal((await fetch(`${relay.url}/healthz`)).status, 200, 'the relay is alive')
    t.equal((await fetch(`${relay.url}/readyz`)).status, 200, 'and ready: migrated, its database answers')
    t.equal((await fetch(`${node.url}/healthz`)).status, 200, 'the node is alive')
    t.equal(await relay.stop(), 0, 'the relay exits cleanly on SIGTERM')
    t.equal(await node.stop(), 0, 'the node exits cleanly on SIGTERM')
  },
)

/** A command's exit code and everything it printed. */
function run(command: string, args: string[], env: Record<string, string>, cwd: string) {
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, output }))
  })
}

/** An installed server's `serve`, until it says where it listens; stop() sends SIGTERM and awaits the exit. */
async function serve(
  t: Test,
  props: { bin: string; cwd: string; env: Record<string, string>; listening: RegExp },
) {
  const child = spawn(process.execPath, [props.bin, 'serve'], {
    env: props.env,
    cwd: props.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const take = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const match = props.listening.exec(output)
      if (match?.[1]) resolve(match[1])
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    exited.then((code) => reject(new Error(`serve exited with ${code}: ${output}`)))
  })
  return {
    url,
    stop: () => {
      child.kill('SIGTERM')
      return exited
    },
  }
}
