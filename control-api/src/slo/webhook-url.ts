/**
 * Whether a webhook URL names a loopback, private, link-local or otherwise internal address literally.
 * A hosted control API must not let tenants make it POST into its own network. Names are not resolved here
 * (the Worker cannot): a DNS name pointing inward gets past this check, which is why deliveries also refuse
 * redirects. WEFT_WEBHOOK_ALLOW_PRIVATE=true lifts it for self-hosted and local setups.
 */
export function isInternalHost(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local')) return true
  const v4 = host.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/)
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a >= 224
  }
  if (host.includes(':')) {
    return host === '::' || host === '::1' || /^f[cd]/.test(host) || /^fe[89ab]/.test(host) || host.startsWith('::ffff:')
  }
  return false
}
