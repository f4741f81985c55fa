// What every page of the console shares: its signature, error and empty states.
import { ApiError } from './api'
import { h, prose } from './dom'

export type ViewContext = {
  /** Path segments after the page name: `#/services/payments` gives ['payments']. */
  params: string[]
  query: URLSearchParams
  /** Runs when the user leaves the page (stops refresh timers). */
  onLeave: (f: () => void) => void
  go: (hash: string) => void
}
export type View = (root: HTMLElement, ctx: ViewContext) => Promise<void>

export function errorBox(err: unknown, what: string): HTMLElement {
  const msg = err instanceof ApiError ? err.readable : err instanceof Error ? err.message : String(err)
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, `Could not load ${what}. `), msg)
}

export function empty(title: string, howTo: string): HTMLElement {
  return h('div', { class: 'empty' }, h('strong', {}, title), prose(howTo))
}

export function section(title: string, ...children: (Node | null)[]): HTMLElement {
  return h('section', {}, h('h2', {}, title), ...children)
}

/** Re-runs `load` every `ms` while the page is shown, without overlapping runs. */
export function every(ms: number, ctx: ViewContext, load: () => Promise<void>): void {
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const tick = async () => {
    await load().catch(() => {})
    if (!stopped) timer = setTimeout(tick, ms)
  }
  timer = setTimeout(tick, ms)
  ctx.onLeave(() => {
    stopped = true
    clearTimeout(timer)
  })
}

export const SIDECAR_HINT =
  'Start sidecars with `npx weft sidecar --control-url <this API> --join-token <token> --service <name> --app-port <port>`; they push request metrics every few seconds. A join token comes from `POST /v1/services/<name>/join-tokens`.'
