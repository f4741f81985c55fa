import type { Compiled } from '../snapshot/types'
import { compileIstioPatterns } from './istio-pattern'
import type { MeshRequest } from './mesh-request'
import { compilePathMatch } from './path-match'
import { oldestFirst } from './policy-order'
import { durationMs } from './duration'
import type { FaultPolicySpec } from './schemas'

/**
 * FaultPolicy, after Istio's HTTPFaultInjection (and Envoy's fault filter under it): a delay and/or an abort,
 * each injected into the given percentage of matching requests, rolled independently.
 */
export type ApplicableFault = {
  readonly policy: string
  readonly delay: { readonly percent: number; readonly delayMs: number } | null
  readonly abort: { readonly percent: number; readonly httpStatus: number } | null
  readonly reason: string
}

/** What one roll of the dice decided for one fault. */
export type FaultRoll = {
  readonly policy: string
  /** 0 when no delay was injected. */
  readonly delayMs: number
  /** The status to answer with (`fault-abort`), or null. */
  readonly abortStatus: number | null
  readonly reason: string
}

export type SkippedFault = { readonly policy: string; readonly reason: string }

export type FaultInjector = {
  /** The hot path: O(policies); returns objects built at compile time, allocating only the list when one applies. */
  applicable(request: MeshRequest, principal: string | null): readonly ApplicableFault[]
  readonly skipped: readonly SkippedFault[]
}

const NONE: readonly ApplicableFault[] = Object.freeze([])

/**
 * Compiles the FaultPolicies of one service. A policy applies when every part of its `match` holds: path,
 * method, and source principal (Istio patterns; an unauthenticated caller matches no `sources`).
 */
export function compileFaults(policies: readonly Compiled<FaultPolicySpec>[]): FaultInjector {
  const skipped: SkippedFault[] = []
  const compiled: { test: (r: MeshRequest, p: string | null) => boolean; fault: ApplicableFault }[] = []
  for (const policy of [...policies].sort(oldestFirst)) {
    const c = compileFault(policy)
    if (typeof c === 'string') skipped.push(Object.freeze({ policy: policy.name, reason: c }))
    else compiled.push(c)
  }

  function applicable(request: MeshRequest, principal: string | null): readonly ApplicableFault[] {
    let out: ApplicableFault[] | null = null
    for (const c of compiled) if (c.test(request, principal)) (out ??= []).push(c.fault)
    return out ?? NONE
  }

  return { applicable, skipped: Object.freeze(skipped) }
}

/** compileFaults + applicable, for one-off evaluation (`simulate`). */
export function applicableFaults(policies: readonly Compiled<FaultPolicySpec>[], request: MeshRequest, principal: string | null): readonly ApplicableFault[] {
  return compileFaults(policies).applicable(request, principal)
}

/**
 * Rolls one fault. `random` returns [0, 1) like Math.random; it is drawn once for the delay (if any), then
 * once for the abort (if any), so a seeded sequence gives the same outcome every time. A percentage p
 * injects when the draw × 100 < p: 0 never, 100 always.
 */
export function rollFault(fault: ApplicableFault, random: () => number): FaultRoll {
  const delayed = fault.delay !== null && random() * 100 < fault.delay.percent
  const aborted = fault.abort !== null && random() * 100 < fault.abort.percent
  const delayMs = delayed ? fault.delay!.delayMs : 0
  const abortStatus = aborted ? fault.abort!.httpStatus : null
  const parts = [delayed ? `delay ${delayMs}ms` : null, aborted ? `abort ${abortStatus}` : null].filter((p) => p !== null)
  return {
    policy: fault.policy,
    delayMs,
    abortStatus,
    reason: `FaultPolicy ${JSON.stringify(fault.policy)}: ${parts.length > 0 ? `injected ${parts.join(' and ')}` : 'rolled no fault'}`,
  }
}

/**
 * Rolls every applicable fault, in order: delays add up (each is its own policy's promise), and the first
 * abort rolled answers the request, after the delays, as Envoy's fault filter delays before it aborts.
 */
export function rollFaults(faults: readonly ApplicableFault[], random: () => number): { delayMs: number; abort: FaultRoll | null; rolls: FaultRoll[] } {
  let delayMs = 0
  let abort: FaultRoll | null = null
  const rolls = faults.map((fault) => {
    const roll = rollFault(fault, random)
    delayMs += roll.delayMs
    if (abort === null && roll.abortStatus !== null) abort = roll
    return roll
  })
  return { delayMs, abort, rolls }
}

function compileFault(policy: Compiled<FaultPolicySpec>): { test: (r: MeshRequest, p: string | null) => boolean; fault: ApplicableFault } | string {
  const tests: ((r: MeshRequest, p: string | null) => boolean)[] = []
  const scope: string[] = []
  const match = policy.spec.match
  if (match?.path !== undefined) {
    const path = compilePathMatch(match.path)
    if (!path.ok) return path.reason
    const test = path.match.test
    tests.push((r) => test(r.path))
    scope.push(path.match.text)
  }
  const methods: readonly string[] | undefined = match?.methods
  if (methods !== undefined && methods.length > 0) {
    tests.push((r) => methods.includes(r.method))
    scope.push(`method in [${methods.join(', ')}]`)
  }
  if (match?.sources !== undefined && match.sources.length > 0) {
    const test = compileIstioPatterns(match.sources)
    tests.push((_, p) => test(p))
    scope.push(`source in [${match.sources.join(', ')}]`)
  }
  const { delay, abort } = policy.spec
  let delayMs = 0
  try {
    if (delay !== undefined) delayMs = durationMs(delay.fixedDelay)
  } catch {
    return `delay ${JSON.stringify(delay!.fixedDelay)} is not a duration`
  }
  const effects = [
    delay !== undefined ? `delay ${delay.fixedDelay} for ${delay.percent}%` : null,
    abort !== undefined ? `abort ${abort.httpStatus} for ${abort.percent}%` : null,
  ].filter((e) => e !== null)
  const fault: ApplicableFault = Object.freeze({
    policy: policy.name,
    delay: delay !== undefined ? Object.freeze({ percent: delay.percent, delayMs }) : null,
    abort: abort !== undefined ? Object.freeze({ percent: abort.percent, httpStatus: abort.httpStatus }) : null,
    reason: `FaultPolicy ${JSON.stringify(policy.name)}: ${effects.join(' and ')}, ${scope.length > 0 ? `applies to ${scope.join(' and ')}` : 'applies to every request'}`,
  })
  const test = tests.length === 0 ? () => true : (r: MeshRequest, p: string | null) => tests.every((t) => t(r, p))
  return { test, fault }
}
