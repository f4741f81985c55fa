import { durationMs, type RetryPolicy } from '../../../mesh/src/policy/index'

/** How one attempt ended, as retries and outlier detection see it. */
export type AttemptFailure = 'connect-failure' | 'reset' | 'per-try-timeout'

/**
 * Envoy's `retry_on` semantics, which the schema's names follow: `5xx` covers every 5xx answer and every
 * attempt that got none (connect failure, reset, per-try timeout); `gateway-error` 502/503/504 and the same
 * no-answer cases; `reset` only the no-answer cases; `connect-failure` only connect failures;
 * `retriable-status-codes` the listed statuses.
 */
export function isRetriable(retry: RetryPolicy, outcome: { status: number } | { failure: AttemptFailure }): boolean {
  for (const on of retry.retryOn) {
    if ('failure' in outcome) {
      if (on === '5xx' || on === 'gateway-error' || on === 'reset') return true
      if (on === 'connect-failure' && outcome.failure === 'connect-failure') return true
    } else {
      const s = outcome.status
      if (on === '5xx' && s >= 500) return true
      if (on === 'gateway-error' && (s === 502 || s === 503 || s === 504)) return true
      if (on === 'retriable-status-codes' && retry.retriableStatusCodes?.includes(s)) return true
    }
  }
  return false
}

// The schema's defaults for `backoff`, also when the block is absent.
const DEFAULT_BASE_MS = 25
const DEFAULT_MAX_MS = 250

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): the n-th
 * retry (1-based) waits random × min(max, base × 2^(n-1)), spreading retries from many callers apart.
 */
export function backoffMs(retry: RetryPolicy, n: number, random: () => number): number {
  const base = retry.backoff !== undefined ? durationMs(retry.backoff.base ?? '25ms') : DEFAULT_BASE_MS
  const max = retry.backoff !== undefined ? durationMs(retry.backoff.max ?? '250ms') : DEFAULT_MAX_MS
  return random() * Math.min(max, base * 2 ** (n - 1))
}
