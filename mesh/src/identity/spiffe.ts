import { SpiffeIdInvalid } from './svid-errors'

/**
 * Weft's SPIFFE IDs are `spiffe://<trust domain>/svc/<service>`: one trust domain per tenant (`<slug>.weft`),
 * one path shape. Parsing is deliberately stricter than the SPIFFE spec allows (no `_`, no upper case, no
 * other paths), because every ID Weft issues fits it and anything else in a token is a forgery or a bug.
 */
export type SpiffeId = { trustDomain: string; service: string }

const SCHEME = 'spiffe://'
const SERVICE_PATH = '/svc/'
// RFC 1123 label, the same rule the control API applies to service names.
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
// SPIFFE caps the trust domain at 255 bytes, which is also the DNS limit.
const MAX_TRUST_DOMAIN_LENGTH = 255

export function isTrustDomain(td: string): boolean {
  return typeof td === 'string' && td.length > 0 && td.length <= MAX_TRUST_DOMAIN_LENGTH && td.split('.').every((l) => DNS_LABEL.test(l))
}

export function isServiceName(service: string): boolean {
  return typeof service === 'string' && DNS_LABEL.test(service)
}

/**
 * @example spiffeIdOf('acme.weft', 'payments') // 'spiffe://acme.weft/svc/payments'
 * @throws SpiffeIdInvalid when either part does not fit.
 */
export function spiffeIdOf(trustDomain: string, service: string): string {
  if (!isTrustDomain(trustDomain)) throw new SpiffeIdInvalid(`not a trust domain: ${JSON.stringify(trustDomain)}`)
  if (!isServiceName(service)) throw new SpiffeIdInvalid(`not a service name (a lowercase DNS label): ${JSON.stringify(service)}`)
  return `${SCHEME}${trustDomain}${SERVICE_PATH}${service}`
}

/**
 * @example parseSpiffeId('spiffe://acme.weft/svc/payments') // { trustDomain: 'acme.weft', service: 'payments' }
 * @throws SpiffeIdInvalid for anything that `spiffeIdOf` would not have produced.
 */
export function parseSpiffeId(id: string): SpiffeId {
  if (typeof id !== 'string' || !id.startsWith(SCHEME)) throw new SpiffeIdInvalid('a SPIFFE ID starts with spiffe://')
  const rest = id.slice(SCHEME.length)
  const slash = rest.indexOf('/')
  if (slash < 0) throw new SpiffeIdInvalid('a workload SPIFFE ID has a path')
  const trustDomain = rest.slice(0, slash)
  const path = rest.slice(slash)
  if (!isTrustDomain(trustDomain)) throw new SpiffeIdInvalid('the trust domain is not a lowercase DNS name')
  if (!path.startsWith(SERVICE_PATH)) throw new SpiffeIdInvalid('the path is not /svc/<service>')
  const service = path.slice(SERVICE_PATH.length)
  if (!isServiceName(service)) throw new SpiffeIdInvalid('the service is not a lowercase DNS label')
  return { trustDomain, service }
}
