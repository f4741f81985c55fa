import type { WeftReason } from '../../../mesh/src/policy/index'
import { PROXY_REASONS } from './proxy-reasons'

/** Problem types of proxy-made responses: `https://weft.dev/problems/proxy/<reason>`, stable for clients. */
export const PROXY_PROBLEM_BASE = 'https://weft.dev/problems/proxy/'

export const WEFT_REASON_HEADER = 'weft-reason'

export type ProblemOptions = {
  /** Why, in words, naming the policy and rule that decided. */
  detail: string
  /** The deciding policy; null when no policy decided (e.g. a default, or no configuration). */
  policy?: string | null
  /** The rule's (or limit's) index within `policy`. */
  rule?: number | null
  /** Overrides the reason's usual status (a FaultPolicy abort carries its own). */
  status?: number
  headers?: Record<string, string>
  /** HEAD requests get the headers without a body (RFC 9110 §9.3.2). */
  method?: string
}

/**
 * A response the proxy makes itself: `Weft-Reason` plus an RFC 9457 problem+json body naming the policy and
 * rule, so no 503 leaves a proxy unexplained (DESIGN.md, "Proxies").
 */
export function problemResponse(reason: WeftReason, options: ProblemOptions): Response {
  const info = PROXY_REASONS[reason]
  const status = options.status ?? info.status
  const body = {
    type: PROXY_PROBLEM_BASE + reason,
    title: info.title,
    status,
    detail: options.detail,
    reason,
    policy: options.policy ?? null,
    rule: options.rule ?? null,
  }
  const headers = new Headers(options.headers)
  headers.set('content-type', 'application/problem+json')
  headers.set('cache-control', 'no-store')
  headers.set(WEFT_REASON_HEADER, reason)
  return new Response(options.method === 'HEAD' ? null : JSON.stringify(body), { status, headers })
}
