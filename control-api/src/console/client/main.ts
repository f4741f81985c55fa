// The Weft console: a single page served by the control API at /console. Sign in with an API key, then
// hash routes (#/overview, #/services/NAME, #/proxies, #/policies[/NAME], #/slos, #/audit) render views.
import { api, ApiError, forgetKey, storedKey, storeKey, type Tenant, whenUnauthorized } from './api'
import { h, prose } from './dom'
import type { View, ViewContext } from './view'
import { audit } from './views/audit'
import { overview } from './views/overview'
import { policies } from './views/policies'
import { proxies } from './views/proxies'
import { service } from './views/service'
import { slos } from './views/slos'

const PAGES: { path: string; label: string; view: View; nav: boolean }[] = [
  { path: 'overview', label: 'Service graph', view: overview, nav: true },
  { path: 'services', label: 'Service', view: service, nav: false },
  { path: 'proxies', label: 'Proxies', view: proxies, nav: true },
  { path: 'policies', label: 'Policies', view: policies, nav: true },
  { path: 'slos', label: 'SLOs & alerts', view: slos, nav: true },
  { path: 'audit', label: 'Audit log', view: audit, nav: true },
]

const app = document.getElementById('app')!
let leaving: (() => void)[] = []
let tenant: Tenant | null = null

function leave(): void {
  for (const f of leaving) f()
  leaving = []
}

function signIn(message?: string): void {
  leave()
  tenant = null
  const input = h('input', { id: 'api-key', name: 'key', type: 'password', autocomplete: 'off', required: true, placeholder: 'wft_…', spellcheck: 'false' })
  const status = h('p', { class: 'error', role: 'alert', hidden: !message }, message ?? '')
  const button = h('button', { type: 'submit' }, 'Sign in')
  const form = h(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Weft console'),
    h('p', {}, 'The service graph, metrics, proxies, policies, SLOs and audit log of your mesh.'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    prose('A tenant API key (`wft_…`). It is kept in this browser tab only and sent to this control API as a bearer token. Create one with `npx weft keys create console --role viewer`, or use the admin key your tenant was created with (admin keys also see the audit log).'),
    button,
    status,
  )
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const key = input.value.trim()
    button.disabled = true
    status.hidden = true
    try {
      tenant = await api<Tenant>('/v1/tenant', key)
      storeKey(key)
      if (!location.hash || location.hash === '#/signin') location.hash = '#/overview'
      else void route()
    } catch (err) {
      status.textContent =
        err instanceof ApiError && err.status === 401
          ? 'That key was not accepted: check that it is complete and not revoked or expired.'
          : err instanceof ApiError && err.status === 403
            ? `This key cannot open the console: ${err.readable}`
            : `Sign-in failed: ${err instanceof ApiError ? err.readable : String(err)}`
      status.hidden = false
    } finally {
      button.disabled = false
    }
  })
  app.replaceChildren(h('main', { class: 'signin-page' }, form))
  input.focus()
}

function signOut(): void {
  forgetKey()
  location.hash = ''
  signIn()
}

let navigation = 0

async function route(): Promise<void> {
  leave()
  const mine = ++navigation
  if (!storedKey()) return signIn()
  // Every navigation re-reads the tenant, so the header's revision stays current.
  try {
    tenant = await api<Tenant>('/v1/tenant')
  } catch (err) {
    // A refused key already went back to the sign-in form (whenUnauthorized); other errors show on the page.
    if (err instanceof ApiError && err.status === 401) return
  }
  if (mine !== navigation) return // the user moved on meanwhile
  const [pathPart = '', queryPart = ''] = location.hash.replace(/^#\/?/, '').split('?')
  const [name = 'overview', ...params] = pathPart.split('/').filter(Boolean)
  const page = PAGES.find((p) => p.path === name) ?? PAGES[0]!
  const current = page.path === 'services' ? 'overview' : page.path
  const nav = h(
    'nav',
    { 'aria-label': 'Console' },
    ...PAGES.filter((p) => p.nav).map((p) => h('a', { href: `#/${p.path}`, class: p.path === current ? 'on' : '', 'aria-current': p.path === current ? 'page' : null }, p.label)),
  )
  const header = h(
    'header',
    {},
    h('a', { class: 'brand', href: '#/overview' }, 'Weft'),
    nav,
    h('span', { class: 'tenant' }, tenant ? `${tenant.displayName} (${tenant.slug}) · revision ${tenant.revision}` : ''),
    h('button', { type: 'button', class: 'signout', onclick: signOut }, 'Sign out'),
  )
  const main = h('main', {})
  app.replaceChildren(header, main)
  const ctx: ViewContext = {
    params,
    query: new URLSearchParams(queryPart),
    onLeave: (f) => leaving.push(f),
    go: (hash) => {
      location.hash = hash
    },
  }
  await page.view(main, ctx)
}

whenUnauthorized((message) => {
  forgetKey()
  signIn(`Signed out: ${message}`)
})
window.addEventListener('hashchange', () => void route())
void route()
