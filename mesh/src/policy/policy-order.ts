import type { Compiled } from '../snapshot/types'

/**
 * Milliseconds since the epoch of a policy's `createdAt`. An unparsable time sorts as the newest: it must
 * not win a tie it cannot justify (Gateway API breaks ties by "the oldest Route based on creation timestamp").
 */
export function createdAtMs(createdAt: string): number {
  const ms = Date.parse(createdAt)
  return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms
}

/** Oldest first, then by name (code-unit order, not locale: every runtime must agree). For `Array.sort`. */
export function oldestFirst(a: Compiled<unknown>, b: Compiled<unknown>): number {
  return createdAtMs(a.createdAt) - createdAtMs(b.createdAt) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}
