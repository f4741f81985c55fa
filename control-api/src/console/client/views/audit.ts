// The audit log, newest first, a page at a time. Only admin keys may read it; others get a clear message.
import { api, ApiError, type AuditEvent, type Page } from '../api'
import { h, prose } from '../dom'
import { time } from '../format'
import { empty, errorBox, type View } from '../view'

function who(a: AuditEvent['actor']): string {
  return a.name ? `${a.type} ${a.name}` : a.id ? `${a.type} ${a.id.slice(0, 8)}` : a.type
}

export const audit: View = async (root) => {
  const body = h('div', {}, h('p', { class: 'loading' }, 'Loading the audit log…'))
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Audit log')), body)
  const rows = h('tbody', {})
  const more = h('button', { type: 'button' }, 'Load older events')
  let cursor: string | null = null
  const load = async (): Promise<boolean> => {
    try {
      const page = await api<Page<AuditEvent>>(`/v1/audit-events?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      for (const e of page.items) {
        rows.append(
          h('tr', {}, ...[time(e.createdAt), who(e.actor), e.action, `${e.resourceType}${e.resourceName ? ` ${e.resourceName}` : ''}`, e.revision ?? '–'].map((c) => h('td', {}, c))),
        )
      }
      cursor = page.nextCursor
      more.hidden = cursor === null
      if (!rows.children.length) body.replaceChildren(empty('No changes recorded yet.', 'Every change made through the API (services, policies, keys, SLOs) is recorded here.'))
      return true
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        body.replaceChildren(h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'The audit log needs an admin API key. '), prose('This key can read the mesh but not its audit log: sign out and sign in with a key of role admin (`npx weft keys create NAME --role admin`).', '')))
      } else body.replaceChildren(errorBox(err, 'the audit log'))
      return false
    }
  }
  more.addEventListener('click', () => void load())
  if (await load()) {
    if (rows.children.length) body.replaceChildren(h('table', { class: 'audit' }, h('thead', {}, h('tr', {}, ...['When', 'Who', 'Action', 'Resource', 'Revision'].map((x) => h('th', { scope: 'col' }, x)))), rows), more)
  }
}
