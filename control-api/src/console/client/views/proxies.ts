// Live proxies and the revision each has applied: convergence at a glance, the ones behind highlighted.
import { api, type Proxy, type Tenant } from '../api'
import { h, table } from '../dom'
import { ago, time } from '../format'
import { empty, errorBox, every, SIDECAR_HINT, type View } from '../view'

export const proxies: View = async (root, ctx) => {
  const body = h('div', {}, h('p', { class: 'loading' }, 'Loading proxies…'))
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Proxies')), body)
  const load = async () => {
    let list: { items: Proxy[] }
    let tenant: Tenant
    try {
      ;[list, tenant] = await Promise.all([api<{ items: Proxy[] }>('/v1/proxies'), api<Tenant>('/v1/tenant')])
    } catch (err) {
      body.replaceChildren(errorBox(err, 'proxies'))
      return
    }
    if (list.items.length === 0) {
      body.replaceChildren(empty('No live proxies.', SIDECAR_HINT))
      return
    }
    const current = tenant.revision
    const behind = list.items.filter((p) => p.appliedRevision < current)
    body.replaceChildren(
      h(
        'p',
        { class: behind.length ? 'banner warn' : 'banner good' },
        behind.length
          ? `${behind.length} of ${list.items.length} live proxies are behind the latest revision ${current}. They catch up on their next poll; one that stays behind cannot reach the API or rejected the configuration (see its logs).`
          : `All ${list.items.length} live proxies have applied the latest revision ${current}.`,
      ),
      table(
        ['Service', 'Labels', 'Runtime', 'Applied revision', 'Applied', 'Last seen', 'Proxy id'],
        list.items.map((p) => [
          h('a', { href: `#/services/${encodeURIComponent(p.service)}` }, p.service),
          Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '–',
          p.runtime,
          h('span', { class: `pill ${p.appliedRevision < current ? 'warn' : 'good'}` }, p.appliedRevision < current ? `${p.appliedRevision} (behind by ${current - p.appliedRevision})` : `${p.appliedRevision} (latest)`),
          h('span', { title: time(p.appliedAt) }, ago(p.appliedAt)),
          h('span', { title: time(p.lastSeenAt) }, ago(p.lastSeenAt)),
          h('span', { class: 'mono small' }, p.id.slice(0, 8)),
        ]),
        { class: 'proxies' },
      ),
    )
  }
  await load()
  every(5_000, ctx, load)
}
