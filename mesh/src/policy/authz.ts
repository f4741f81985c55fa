import type { Compiled } from '../snapshot/types'
import { compileIstioPatterns } from './istio-pattern'
import { fieldValue, type MeshRequest } from './mesh-request'
import { oldestFirst } from './policy-order'
import type { AuthorizationPolicySpec, AuthorizationRule } from './schemas'

/**
 * Istio AuthorizationPolicy semantics (istio.io/latest/docs/reference/config/security/authorization-policy/):
 * "If there are any DENY policies that match the request, deny the request. If there are no ALLOW policies
 * for the workload, allow the request. If any of the ALLOW policies match the request, allow the request.
 * Deny the request." A rule matches when every field it sets matches; a rule with neither `from` nor `to`
 * matches every request. An empty list is treated as unset, as proto3 repeated fields are in Istio.
 * `dryRun` policies (Istio's `istio.io/dry-run` annotation) are evaluated and reported, never enforced.
 */

export type AuthzAction = 'ALLOW' | 'DENY'

/** What a dry-run policy would have done on its own, as Istio's shadow rules report it. */
export type DryRunDecision = {
  readonly policy: string
  readonly action: AuthzAction
  /** The matching rule's index; null when no rule matched. */
  readonly rule: number | null
  /** DENY policy: DENY when a rule matches, else ALLOW. ALLOW policy: ALLOW when a rule matches, else DENY. */
  readonly wouldBe: AuthzAction
  readonly reason: string
}

export type AuthzDecision = {
  readonly decision: AuthzAction
  /** The deciding policy; null for the defaults (no ALLOW policy, or ALLOW policies none of which matched). */
  readonly policy: string | null
  readonly rule: number | null
  readonly reason: string
  readonly dryRun: readonly DryRunDecision[]
}

/** One rule as `explain` reports it. */
export type AuthzRuleReport = {
  readonly policy: string
  readonly action: AuthzAction
  readonly dryRun: boolean
  readonly rule: number
  readonly matches: boolean
  readonly reason: string
}

export type Authorizer = {
  /**
   * The hot path. `principal` is the caller's verified SPIFFE ID, null when unauthenticated (null matches no
   * `principals` pattern, and so satisfies every `notPrincipals`). O(rules × fields); returns objects built at
   * compile time unless dry-run policies exist.
   */
  authorize(request: MeshRequest, principal: string | null): AuthzDecision
  /** For `simulate`: the decision plus every rule with the first field that failed it. */
  explain(request: MeshRequest, principal: string | null): { readonly decision: AuthzDecision; readonly rules: readonly AuthzRuleReport[] }
}

type Condition = { readonly text: string; readonly test: (request: MeshRequest, principal: string | null) => boolean }

type CompiledRule = {
  readonly index: number
  readonly conditions: readonly Condition[]
  readonly text: string
  /** The enforced decision when this rule decides (unused for dry-run policies). */
  readonly decision: AuthzDecision
}

type CompiledPolicy = { readonly name: string; readonly action: AuthzAction; readonly dryRun: boolean; readonly rules: readonly CompiledRule[] }

const NO_DRY_RUN: readonly DryRunDecision[] = Object.freeze([])

/**
 * Compiles the AuthorizationPolicies of one service. Policies are ordered oldest first, then by name, so that
 * when several rules would decide alike the reported one is stable.
 *
 * @example
 * const authz = compileAuthorization(snapshot.inbound.authorization)
 * const { decision, reason } = authz.authorize(request, verifiedSvid?.subject ?? null)
 */
export function compileAuthorization(policies: readonly Compiled<AuthorizationPolicySpec>[]): Authorizer {
  const ordered = [...policies].sort(oldestFirst)
  const compiled = ordered.map(compilePolicy)
  const deny = compiled.filter((p) => !p.dryRun && p.action === 'DENY')
  const allow = compiled.filter((p) => !p.dryRun && p.action === 'ALLOW')
  const dryRuns = compiled.filter((p) => p.dryRun)

  const allowNames = allow.map((p) => JSON.stringify(p.name)).join(', ')
  const noAllowMatched: AuthzDecision = Object.freeze({
    decision: 'DENY',
    policy: null,
    rule: null,
    reason: `DENY: ALLOW ${allow.length === 1 ? 'policy' : 'policies'} ${allowNames} ${allow.length === 1 ? 'applies' : 'apply'} to this service and none of ${allow.length === 1 ? 'its' : 'their'} rules matches (Istio: once an ALLOW policy exists, what it does not allow is denied)`,
    dryRun: NO_DRY_RUN,
  })
  const defaultAllow: AuthzDecision = Object.freeze({
    decision: 'ALLOW',
    policy: null,
    rule: null,
    reason:
      deny.length === 0
        ? 'ALLOW: no enforced AuthorizationPolicy targets this service (Istio default: allow)'
        : 'ALLOW: no DENY rule matches and no ALLOW policy applies to this service (Istio default: allow)',
    dryRun: NO_DRY_RUN,
  })

  function enforced(request: MeshRequest, principal: string | null): AuthzDecision {
    for (const policy of deny) {
      const rule = firstMatch(policy, request, principal)
      if (rule !== null) return rule.decision
    }
    if (allow.length === 0) return defaultAllow
    for (const policy of allow) {
      const rule = firstMatch(policy, request, principal)
      if (rule !== null) return rule.decision
    }
    return noAllowMatched
  }

  function authorize(request: MeshRequest, principal: string | null): AuthzDecision {
    const decision = enforced(request, principal)
    if (dryRuns.length === 0) return decision
    return { ...decision, dryRun: dryRuns.map((p) => dryRunOf(p, request, principal)) }
  }

  function explain(request: MeshRequest, principal: string | null) {
    const rules: AuthzRuleReport[] = []
    for (const policy of compiled) {
      for (const rule of policy.rules) {
        const failed = rule.conditions.find((c) => !c.test(request, principal))
        rules.push({
          policy: policy.name,
          action: policy.action,
          dryRun: policy.dryRun,
          rule: rule.index,
          matches: failed === undefined,
          reason: failed === undefined ? `matches (${rule.text})` : `${failed.text} does not hold`,
        })
      }
    }
    return { decision: authorize(request, principal), rules }
  }

  return { authorize, explain }
}

/** compileAuthorization + authorize, for one-off evaluation; the proxy keeps the compiled authorizer. */
export function authorize(policies: readonly Compiled<AuthorizationPolicySpec>[], request: MeshRequest, principal: string | null): AuthzDecision {
  return compileAuthorization(policies).authorize(request, principal)
}

function firstMatch(policy: CompiledPolicy, request: MeshRequest, principal: string | null): CompiledRule | null {
  for (const rule of policy.rules) {
    let holds = true
    for (const condition of rule.conditions) {
      if (!condition.test(request, principal)) {
        holds = false
        break
      }
    }
    if (holds) return rule
  }
  return null
}

function dryRunOf(policy: CompiledPolicy, request: MeshRequest, principal: string | null): DryRunDecision {
  const rule = firstMatch(policy, request, principal)
  const label = `dry-run ${policy.action} policy ${JSON.stringify(policy.name)}`
  if (rule !== null) return { policy: policy.name, action: policy.action, rule: rule.index, wouldBe: policy.action, reason: `${label}: rule ${rule.index} matches (${rule.text}); not enforced` }
  const wouldBe = policy.action === 'DENY' ? 'ALLOW' : 'DENY'
  return { policy: policy.name, action: policy.action, rule: null, wouldBe, reason: `${label}: no rule matches; not enforced` }
}

function compilePolicy(policy: Compiled<AuthorizationPolicySpec>): CompiledPolicy {
  const action = policy.spec.action ?? 'ALLOW'
  const rules = policy.spec.rules.map((rule, index): CompiledRule => {
    const conditions = compileRule(rule)
    const text = conditions.length === 0 ? 'an empty rule matches every request' : conditions.map((c) => c.text).join(' and ')
    return {
      index,
      conditions,
      text,
      decision: Object.freeze({
        decision: action,
        policy: policy.name,
        rule: index,
        reason: `${action}: AuthorizationPolicy ${JSON.stringify(policy.name)} (${action}) rule ${index} matches (${text})`,
        dryRun: NO_DRY_RUN,
      }),
    }
  })
  return { name: policy.name, action, dryRun: policy.spec.dryRun ?? false, rules }
}

function compileRule(rule: AuthorizationRule): Condition[] {
  const conditions: Condition[] = []
  const list = (xs: readonly string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`
  const { principals, notPrincipals } = rule.from ?? {}
  if (principals !== undefined && principals.length > 0) {
    const test = compileIstioPatterns(principals)
    conditions.push({ text: `source principal in ${list(principals)}`, test: (_, principal) => test(principal) })
  }
  if (notPrincipals !== undefined && notPrincipals.length > 0) {
    const test = compileIstioPatterns(notPrincipals)
    conditions.push({ text: `source principal not in ${list(notPrincipals)}`, test: (_, principal) => !test(principal) })
  }
  const { methods, paths, notPaths, headers } = rule.to ?? {}
  if (methods !== undefined && methods.length > 0) {
    const allowed: readonly string[] = methods
    conditions.push({ text: `method in ${list(methods)}`, test: (r) => allowed.includes(r.method) })
  }
  if (paths !== undefined && paths.length > 0) {
    const test = compileIstioPatterns(paths)
    conditions.push({ text: `path in ${list(paths)}`, test: (r) => test(r.path) })
  }
  if (notPaths !== undefined && notPaths.length > 0) {
    const test = compileIstioPatterns(notPaths)
    conditions.push({ text: `path not in ${list(notPaths)}`, test: (r) => !test(r.path) })
  }
  for (const header of headers ?? []) {
    const name = header.name.toLowerCase()
    const test = compileIstioPatterns(header.values)
    // A header the request lacks matches no value, not even "*" (Istio: `request.headers[...]` needs presence).
    conditions.push({ text: `header ${JSON.stringify(name)} in ${list(header.values)}`, test: (r) => test(fieldValue(r.headers, name) ?? null) })
  }
  return conditions
}
