import { and, eq, gt, ne } from 'drizzle-orm'
import { checkRegex } from '../../../mesh/src/policy/safe-regex'
import type { PolicyInput } from '../../../mesh/src/policy/schemas'
import type { Queryable } from '../db/client'
import { endpoints, services } from '../db/schema'
import type { FieldError } from '../errors'
import { resolveFilterRefs } from '../routes/filters'

export type Findings = { errors: FieldError[]; warnings: FieldError[] }

/** The labels of live endpoints, per service, to tell whether a backend selector selects anything. */
async function liveLabels(db: Queryable, tenantId: string, serviceId: string, now: Date) {
  const rows = await db
    .select({ labels: endpoints.labels })
    .from(endpoints)
    .where(and(eq(endpoints.tenantId, tenantId), eq(endpoints.serviceId, serviceId), gt(endpoints.expiresAt, now), ne(endpoints.health, 'unhealthy')))
  return rows.map((r) => r.labels)
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v)

/**
 * What the schema cannot know: references to other resources, and regexes that compile but could hang a
 * proxy. Errors refuse the write (400 naming the field); warnings are returned with the accepted policy
 * (a canary selector that matches nothing yet is normal while the canary rolls out).
 */
export async function validateReferences(db: Queryable, tenantId: string, policy: PolicyInput, now: Date): Promise<Findings> {
  const errors: FieldError[] = []
  const warnings: FieldError[] = []
  const svcRows = await db.select({ id: services.id, name: services.name }).from(services).where(eq(services.tenantId, tenantId))
  const byName = new Map(svcRows.map((s) => [s.name, s.id]))
  if (!byName.has(policy.targetRef.service)) errors.push({ path: 'targetRef.service', message: `no service "${policy.targetRef.service}"`, code: 'unknown_service' })

  const regex = (pattern: string, path: string) => {
    const r = checkRegex(pattern)
    if (!r.ok) errors.push({ path, message: r.reason, code: 'unsafe_regex' })
  }
  const pathMatch = (p: { type: string; value: string } | undefined, path: string) => {
    if (p?.type === 'RegularExpression') regex(p.value, `${path}.value`)
  }

  switch (policy.kind) {
    case 'Route': {
      const labelCache = new Map<string, Record<string, string>[]>()
      const labelsOf = async (service: string) => {
        if (!labelCache.has(service)) labelCache.set(service, await liveLabels(db, tenantId, byName.get(service)!, now))
        return labelCache.get(service)!
      }
      for (const [ri, rule] of policy.spec.rules.entries()) {
        const base = `spec.rules.${ri}`
        for (const [mi, m] of (rule.matches ?? []).entries()) {
          pathMatch(m.path, `${base}.matches.${mi}.path`)
          for (const [hi, h] of (m.headers ?? []).entries()) if (h.type === 'RegularExpression') regex(h.value, `${base}.matches.${mi}.headers.${hi}.value`)
          for (const [qi, q] of (m.queryParams ?? []).entries()) if (q.type === 'RegularExpression') regex(q.value, `${base}.matches.${mi}.queryParams.${qi}.value`)
        }
        const refs = rule.backendRefs ?? []
        if (refs.length > 0 && refs.every((b) => b.weight === 0)) {
          errors.push({ path: `${base}.backendRefs`, message: 'every backend has weight 0: no request could be routed', code: 'zero_weights' })
        }
        const redirect = rule.filters?.some((f) => f.type === 'RequestRedirect')
        if (redirect && refs.length > 0) errors.push({ path: `${base}.filters`, message: 'a rule that redirects cannot also have backendRefs', code: 'redirect_with_backends' })
        const targets: [string, { service?: string; labels: Record<string, string> }][] = refs.map((b, bi) => [`${base}.backendRefs.${bi}`, b])
        for (const [fi, f] of (rule.filters ?? []).entries()) if (f.type === 'RequestMirror') targets.push([`${base}.filters.${fi}.requestMirror.backendRef`, f.requestMirror.backendRef])
        for (const [path, b] of targets) {
          const service = b.service ?? policy.targetRef.service
          if (!byName.has(service)) {
            if (b.service) errors.push({ path: `${path}.service`, message: `no service "${service}"`, code: 'unknown_service' })
            continue
          }
          if (Object.keys(b.labels).length > 0 && !(await labelsOf(service)).some((l) => selects(b.labels, l))) {
            warnings.push({ path: `${path}.labels`, message: `no live endpoint of "${service}" has labels ${JSON.stringify(b.labels)} yet: traffic sent there gets no-healthy-upstream`, code: 'empty_subset' })
          }
        }
      }
      break
    }
    case 'RateLimitPolicy':
      for (const [i, l] of policy.spec.limits.entries()) pathMatch(l.match?.path, `spec.limits.${i}.match.path`)
      break
    case 'FaultPolicy':
      pathMatch(policy.spec.match?.path, 'spec.match.path')
      break
    case 'AuthorizationPolicy':
      for (const [ri, rule] of policy.spec.rules.entries()) {
        for (const field of ['principals', 'notPrincipals'] as const) {
          for (const [pi, p] of (rule.from?.[field] ?? []).entries()) {
            if (p !== '*' && !p.startsWith('spiffe://')) errors.push({ path: `spec.rules.${ri}.from.${field}.${pi}`, message: 'principals are SPIFFE IDs (spiffe://…), optionally with a trailing or leading *, or "*"', code: 'bad_principal' })
          }
        }
      }
      break
    case 'FilterChain': {
      const resolved = await resolveFilterRefs(db, tenantId, policy.spec.filters)
      for (const [i, f] of policy.spec.filters.entries()) {
        if (!resolved.get(i)) errors.push({ path: `spec.filters.${i}`, message: `filter ${f.filter}${f.version ? `@${f.version}` : ` sha256 ${f.sha256}`} is not in the registry (push it first)`, code: 'unknown_filter' })
      }
      break
    }
    case 'BackendPolicy':
      break
  }
  return { errors, warnings }
}
