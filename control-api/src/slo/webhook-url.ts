/**
 * Whether a webhook URL names a loopback, private, link-local or otherwise internal address literally.
 * A hosted control API must not let tenants make it POST into its own network. Names are not resolved here,
 * when a webhook is created: on Node every delivery checks the addresses the name resolves to at connect time
 * (runtime/node-webhook-fetch.ts, so a name that points or later re-points inward is refused too); a Worker's
 * fetch cannot reach a private network. Deliveries also refuse redirects. WEFT_WEBHOOK_ALLOW_PRIVATE=true
 * lifts both checks for self-hosted and local setups.
 */
export function isInternalHost(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local')) return true
  return isInternalAddress(host)
}

/**
 * Whether an IP address (v4 dotted or v6) is loopback, private, carrier-grade NAT, link-local, unspecified or
 * multicast; false for anything that is not an address literal. Also what a resolved name is checked with
 * before a delivery connects (runtime/node-webhook-fetch.ts).
 */
export function isInternalAddress(address: string): boolean {
  const host = address.toLowerCase()
  const v4 = host.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/)
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a >= 224
  }
  if (host.includes(':')) {
    // An IPv4-mapped address is judged by its IPv4 part.
    const mapped = host.match(/^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/)
    if (mapped) return isInternalAddress(mapped[1]!)
    return host === '::' || host === '::1' || /^f[cd]/.test(host) || /^fe[89ab]/.test(host) || /^ff/.test(host) || host.startsWith('::ffff:')
  }
  return false
}
