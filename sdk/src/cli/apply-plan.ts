import { parseAllDocuments } from 'yaml'
import type { Policy, PolicyInput, PolicyKind, Service } from '../index.js'
import { UsageError } from './exit.js'

export const POLICY_KINDS: readonly PolicyKind[] = ['Route', 'BackendPolicy', 'AuthorizationPolicy', 'RateLimitPolicy', 'FaultPolicy', 'FilterChain']

/** A `kind: Service` document, with the API's defaults filled in so it compares with what is stored. */
export type ServiceDoc = {
  name: string
  protocol: 'http' | 'grpc'
  port: number
  labels: Record<string, string>
  description: string
  /** Sorted, as the API stores it, so that a reordered list is not a change. */
  dependencies: string[] | null
}
export type Manifest = { services: ServiceDoc[]; policies: PolicyInput[] }

export type FieldChange = { path: string; before?: unknown; after?: unknown }
export type Action = 'create' | 'change' | 'unchanged' | 'prune'
export type PlanEntry = { kind: 'Service' | PolicyKind; name: string; action: Action; changes: FieldChange[]; version?: number }

// The defaults of ServiceCreate (control-api/src/schemas/services.ts): a service document that omits a field means them.
const SERVICE_DEFAULTS = { protocol: 'http', port: 80, labels: {}, description: '', dependencies: null } as const

/** Reads a multi-document YAML of services and policies; every problem is reported at once. */
export function parseManifest(text: string, source: string): Manifest {
  const problems: string[] = []
  const services: ServiceDoc[] = []
  const policies: PolicyInput[] = []
  const seen = new Set<string>()
  parseAllDocuments(text).forEach((doc, i) => {
    const where = `${source}, document ${i + 1}`
    if (doc.errors.length) return void problems.push(`${where}: ${doc.errors[0]!.message}`)
    const value = doc.toJS() as unknown
    if (value === null || value === undefined) return
    if (!isObject(value)) return void problems.push(`${where}: expected a mapping with kind and name`)
    const { kind, name } = value
    if (typeof name !== 'string' || name === '') return void problems.push(`${where}: name is missing`)
    const key = `${kind === 'Service' ? 'Service' : 'policy'}/${name}`
    if (seen.has(key)) return void problems.push(`${where}: ${key} appears twice`)
    seen.add(key)
    if (kind === 'Service') {
      const extra = Object.keys(value).filter((k) => !['kind', 'name', 'port', 'protocol', 'labels', 'description', 'dependencies'].includes(k))
      if (extra.length) problems.push(`${where}: Service ${name} has unknown fields ${extra.join(', ')}`)
      const s = { ...SERVICE_DEFAULTS, ...value } as Record<string, unknown>
      if (s.protocol !== 'http' && s.protocol !== 'grpc') problems.push(`${where}: protocol must be http or grpc`)
      if (!Number.isInteger(s.port) || (s.port as number) < 1 || (s.port as number) > 65535) problems.push(`${where}: port must be an integer from 1 to 65535`)
      if (!isObject(s.labels) || Object.values(s.labels).some((v) => typeof v !== 'string')) problems.push(`${where}: labels must map names to strings`)
      if (typeof s.description !== 'string') problems.push(`${where}: description must be a string`)
      const deps = s.dependencies
      if (deps !== null && (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string'))) problems.push(`${where}: dependencies must be a list of service names`)
      services.push({
        name,
        protocol: s.protocol as 'http' | 'grpc',
        port: s.port as number,
        labels: s.labels as Record<string, string>,
        description: s.description as string,
        dependencies: Array.isArray(deps) ? [...(deps as string[])].sort() : null,
      })
    } else if (POLICY_KINDS.includes(kind as PolicyKind)) {
      if (!isObject(value.targetRef) || typeof value.targetRef.service !== 'string') problems.push(`${where}: ${kind} ${name} needs targetRef.service`)
      if (!isObject(value.spec)) problems.push(`${where}: ${kind} ${name} needs a spec mapping`)
      policies.push(value as PolicyInput)
    } else {
      problems.push(`${where}: unknown kind ${JSON.stringify(kind)} (Service, ${POLICY_KINDS.join(', ')})`)
    }
  })
  if (problems.length) throw new UsageError(`${source} is not a valid mesh file:\n  ${problems.join('\n  ')}`)
  return { services, policies }
}

/**
 * What applying the manifest would do. Services compare field by field (their defaults are known). Policies
 * compare what the file says against what is stored, where the API has filled in defaults: a field the file
 * leaves out is taken to be a default and not reported. (The apply itself still PUTs such a policy, which the
 * API treats as a no-op when nothing changed, so a field deleted from the file is still caught.)
 */
export function plan(manifest: Manifest, current: { services: Service[]; policies: Policy[] }, opts: { prune: boolean; pruneServices: boolean }): PlanEntry[] {
  const entries: PlanEntry[] = []
  const services = new Map(current.services.map((s) => [s.name, s]))
  for (const want of manifest.services) {
    const have = services.get(want.name)
    if (!have) {
      entries.push({ kind: 'Service', name: want.name, action: 'create', changes: [] })
      continue
    }
    const { name: _n, ...fields } = want
    const changes = diff({ protocol: have.protocol, port: have.port, labels: have.labels, description: have.description, dependencies: have.dependencies }, fields, '', false)
    entries.push({ kind: 'Service', name: want.name, action: changes.length ? 'change' : 'unchanged', changes, version: have.version })
  }
  const policies = new Map(current.policies.map((p) => [p.name, p]))
  for (const want of manifest.policies) {
    const have = policies.get(want.name)
    if (!have) {
      entries.push({ kind: want.kind, name: want.name, action: 'create', changes: [] })
      continue
    }
    const changes = diff({ kind: have.kind, targetRef: have.targetRef, spec: have.spec }, { kind: want.kind, targetRef: want.targetRef, spec: want.spec }, '', true)
    entries.push({ kind: want.kind, name: want.name, action: changes.length ? 'change' : 'unchanged', changes, version: have.version })
  }
  if (opts.prune) {
    const wanted = new Set(manifest.policies.map((p) => p.name))
    for (const p of current.policies) if (!wanted.has(p.name)) entries.push({ kind: p.kind, name: p.name, action: 'prune', changes: [], version: p.version })
  }
  if (opts.pruneServices) {
    const wanted = new Set(manifest.services.map((s) => s.name))
    for (const s of current.services) if (!wanted.has(s.name)) entries.push({ kind: 'Service', name: s.name, action: 'prune', changes: [], version: s.version })
  }
  return entries
}

/**
 * Field-level differences from `before` to `after`, as dotted paths (`spec.rules[1].timeout`). With
 * `defaultsOmitted`, a key present only in `before` is a server-filled default, not a removal.
 */
export function diff(before: unknown, after: unknown, path: string, defaultsOmitted: boolean): FieldChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(after), ...(defaultsOmitted ? [] : Object.keys(before))])
    return [...keys].sort().flatMap((k) => {
      const p = path ? `${path}.${k}` : k
      if (!(k in after)) return [{ path: p, before: before[k] }]
      if (!(k in before)) return after[k] === undefined ? [] : [{ path: p, after: after[k] }]
      return diff(before[k], after[k], p, defaultsOmitted)
    })
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const out: FieldChange[] = []
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const p = `${path}[${i}]`
      if (i >= after.length) out.push({ path: p, before: before[i] })
      else if (i >= before.length) out.push({ path: p, after: after[i] })
      else out.push(...diff(before[i], after[i], p, defaultsOmitted))
    }
    return out
  }
  return sameValue(before, after) ? [] : [{ path, before, after }]
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b)
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
