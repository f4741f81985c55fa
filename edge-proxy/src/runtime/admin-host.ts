// The admin listener serves the snapshot (every service, policy and endpoint of the tenant) and metrics with no
// authentication, so it stays on loopback unless the operator says otherwise in so many words (Envoy's edge
// guide: "the admin endpoint should not be exposed").
import { isIP } from 'node:net'

export const DEFAULT_ADMIN_HOST = '127.0.0.1'

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h
  return isIP(v4) === 4 && v4.startsWith('127.')
}

/** The host the admin listener binds to; throws for a non-loopback host unless `allowRemote` is set. */
export function adminBindHost(host: string | undefined, allowRemote: boolean): string {
  const h = host ?? DEFAULT_ADMIN_HOST
  if (!isLoopbackHost(h) && !allowRemote) {
    throw new RangeError(
      `the admin listener would bind to ${h}, which is not a loopback address: it serves the snapshot and metrics without authentication. Pass allowRemoteAdmin (--allow-remote-admin) if that is really meant`,
    )
  }
  return h
}
