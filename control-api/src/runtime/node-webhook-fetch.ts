// Webhook deliveries from the Node control API connect only to public addresses. The check is made on the
// addresses the URL's name resolves to, in the connection's own DNS lookup: a tenant cannot make the hosted
// API POST into its network with a name that resolves inward, nor by re-pointing the name after creation (DNS
// rebinding), since the address checked is the address connected to. Literal addresses are checked too (the
// socket does no lookup for those). WEFT_WEBHOOK_ALLOW_PRIVATE=true turns the guard off (self-hosted setups).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { Agent, fetch as undiciFetch } from 'undici'
import { isInternalAddress, isInternalHost } from '../slo/webhook-url'

/** A delivery refused before connecting: its URL names or resolves to an internal address. */
export class InternalWebhookAddressError extends Error {
  readonly code = 'ERR_WEFT_WEBHOOK_INTERNAL_ADDRESS'
  constructor(host: string, address: string) {
    super(`webhook host ${JSON.stringify(host)} resolves to ${address}, a loopback or private address (set WEFT_WEBHOOK_ALLOW_PRIVATE=true on a self-hosted control API to allow it)`)
    this.name = 'InternalWebhookAddressError'
  }
}

type Resolve = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** A `net.connect` lookup that resolves with `resolve` (dns.lookup) and fails when any address is internal. */
export function publicOnlyLookup(resolve: Resolve = dnsLookup as unknown as Resolve) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, [])
      const internal = addresses.find((a) => isInternalAddress(a.address))
      if (internal !== undefined) return callback(new InternalWebhookAddressError(hostname, internal.address) as NodeJS.ErrnoException, [])
      if (options.all) return callback(null, addresses)
      const first = addresses[0]
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), [])
      callback(null, first.address, first.family)
    })
  }
}

/** The fetch webhook deliveries use on Node; `resolve` replaces DNS in tests. */
export function webhookFetch(options: { allowPrivate: boolean; resolve?: Resolve }): { fetch: typeof fetch; close(): Promise<void> } {
  if (options.allowPrivate) return { fetch: globalThis.fetch, close: async () => {} }
  const agent = new Agent({ connect: { lookup: publicOnlyLookup(options.resolve) as never } })
  return {
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : input)
      if (isInternalHost(url)) throw new InternalWebhookAddressError(url.hostname, url.hostname)
      return undiciFetch(url, { ...(init as object), dispatcher: agent }) as unknown as Response
    }) as typeof fetch,
    close: () => agent.close(),
  }
}
