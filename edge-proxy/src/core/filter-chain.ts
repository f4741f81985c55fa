import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { createFilterHost, type FilterHost, type FilterStream } from '../wasm/index'
import type { ProxyLogger } from './proxy-deps'

type Chain = NonNullable<Snapshot['inbound']['filterChain']>
type Loaded = { filter: string; failurePolicy: 'open' | 'closed'; host: FilterHost | null; error: string | null }

export type ChainOutcome =
  | { action: 'continue'; headers: Headers; streams: FilterStream[] }
  | { action: 'respond'; status: number; headers: Headers; body: Uint8Array; filter: string; failure: boolean; detail: string; streams: FilterStream[] }

/**
 * Runs a service's FilterChain after the core policies, in order. Hosts are built once per chain object
 * (a new snapshot brings a new chain, so a changed config or version reloads); a filter that cannot load
 * fails its requests closed or open per its attachment, like a filter that traps.
 */
export class FilterChainRunner {
  private readonly chains = new WeakMap<Chain, Promise<Loaded[]>>()

  constructor(
    private readonly modules: ((sha256: string) => Promise<WebAssembly.Module>) | undefined,
    private readonly logger: ProxyLogger,
    private readonly now: () => number,
  ) {}

  private load(chain: Chain): Promise<Loaded[]> {
    let loaded = this.chains.get(chain)
    if (!loaded) {
      loaded = Promise.all(
        chain.filters.map(async (f): Promise<Loaded> => {
          try {
            if (!this.modules) throw new Error('this proxy cannot load filter modules')
            const module = await this.modules(f.sha256)
            const host = createFilterHost({
              module,
              rootId: f.filter,
              config: f.config === null || f.config === undefined ? '' : JSON.stringify(f.config),
              failurePolicy: f.failurePolicy,
              now: this.now,
              logger: {
                trace: (o, m) => this.logger.debug({ filter: f.filter, ...o }, m),
                debug: (o, m) => this.logger.debug({ filter: f.filter, ...o }, m),
                info: (o, m) => this.logger.info({ filter: f.filter, ...o }, m),
                warn: (o, m) => this.logger.warn({ filter: f.filter, ...o }, m),
                error: (o, m) => this.logger.error({ filter: f.filter, ...o }, m),
              },
            })
            return { filter: f.filter, failurePolicy: f.failurePolicy, host, error: null }
          } catch (err) {
            this.logger.error({ filter: f.filter, sha256: f.sha256, err: String(err) }, 'filter failed to load')
            return { filter: f.filter, failurePolicy: f.failurePolicy, host: null, error: String(err) }
          }
        }),
      )
      this.chains.set(chain, loaded)
    }
    return loaded
  }

  async onRequest(chain: Chain, headers: Headers, props: { method: string; path: string; authority: string; sourcePrincipal: string | null; destinationService: string }): Promise<ChainOutcome> {
    const streams: FilterStream[] = []
    let current = headers
    for (const f of await this.load(chain)) {
      if (!f.host) {
        if (f.failurePolicy === 'open') continue
        return { action: 'respond', status: 503, headers: new Headers(), body: new Uint8Array(), filter: f.filter, failure: true, detail: `filter ${f.filter} could not load: ${f.error}`, streams }
      }
      const stream = f.host.startStream({
        method: props.method,
        path: props.path,
        authority: props.authority,
        ...(props.sourcePrincipal ? { sourcePrincipal: props.sourcePrincipal } : {}),
        destinationService: props.destinationService,
      })
      streams.push(stream)
      const result = await stream.onRequestHeaders(current, { endOfStream: false })
      if (result.action === 'respond') {
        return {
          action: 'respond',
          status: result.status,
          headers: result.headers,
          body: result.body,
          filter: f.filter,
          failure: result.failure !== undefined,
          detail: result.failure ? `filter ${f.filter} failed: ${result.failure.error}` : `filter ${f.filter} answered: ${result.details || result.status}`,
          streams,
        }
      }
      current = result.headers
    }
    return { action: 'continue', headers: current, streams }
  }
}
