// Policies, and the history of one: every version with who wrote it, when, and the JSON Patch from the one before.
import { api, type Page, type Policy, type PolicyVersion } from '../api'
import { h, table } from '../dom'
import { time } from '../format'
import { empty, errorBox, section, type View } from '../view'

function actor(a: PolicyVersion['actor']): string {
  return a.name ? `${a.type} ${a.name}` : a.id ? `${a.type} ${a.id.slice(0, 8)}` : a.type
}

/** What a version changed: the JSON Patch from the one before; a creation shows the spec it started with. */
function change(v: PolicyVersion): HTMLElement | string {
  if (v.operation === 'create' || v.version === 1) return h('code', { class: 'spec' }, `created: ${JSON.stringify(v.spec)}`)
  if (v.operation === 'delete') return 'deleted'
  if (!v.diff.length) return 'no change'
  return h('ul', { class: 'diff' }, ...v.diff.map((d) => h('li', { class: `op-${d.op}` }, `${d.op} ${d.path}${'value' in d ? ` = ${JSON.stringify(d.value)}` : ''}`)))
}

export const policies: View = async (root, ctx) => {
  const selected = ctx.params[0] ? decodeURIComponent(ctx.params[0]) : null
  const list = h('div', {}, h('p', { class: 'loading' }, 'Loading policies…'))
  const history = h('div', {})
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Policies')), list, history)
  try {
    const page = await api<Page<Policy>>('/v1/policies?limit=500')
    list.replaceChildren(
      page.items.length
        ? table(
            ['Name', 'Kind', 'Target service', 'Version', 'Revision', 'Updated', ''],
            page.items.map((p) => [
              h('a', { href: `#/policies/${encodeURIComponent(p.name)}` }, p.name),
              p.kind,
              h('a', { href: `#/services/${encodeURIComponent(p.targetRef.service)}` }, p.targetRef.service),
              p.version,
              p.revision,
              time(p.updatedAt),
              h('a', { href: `#/policies/${encodeURIComponent(p.name)}`, class: p.name === selected ? 'on' : '' }, 'History'),
            ]),
          )
        : empty('No policies yet.', 'Write routes, retries, rate limits and filter chains with `npx weft apply -f mesh.yaml` or `POST /v1/policies`; each change shows up here with its history.'),
    )
  } catch (err) {
    list.replaceChildren(errorBox(err, 'policies'))
  }
  if (!selected) return
  try {
    const { items } = await api<{ items: PolicyVersion[] }>(`/v1/policies/${encodeURIComponent(selected)}/history`)
    history.replaceChildren(
      section(
        `History of ${selected}`,
        table(
          ['Version', 'Operation', 'Revision', 'By', 'When', 'Change'],
          [...items]
            .sort((a, b) => b.version - a.version)
            .map((v) => [
              v.version,
              v.operation,
              v.revision,
              actor(v.actor),
              time(v.createdAt),
              change(v),
            ]),
          { class: 'history' },
        ),
        h('p', { class: 'hint' }, `Roll back with: npx weft policies rollback ${selected} --version N`),
      ),
    )
  } catch (err) {
    history.replaceChildren(errorBox(err, `the history of ${selected}`))
  }
}
