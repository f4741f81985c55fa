// SLOs with their error budget and multi-window burn rates, and the alerts they opened.
import { api, type Alert, type Objective, type Page, type Slo, type SloStatus } from '../api'
import { h, table } from '../dom'
import { ago, time } from '../format'
import { empty, errorBox, every, section, type View } from '../view'

export function objectiveText(o: Objective): string {
  return o.type === 'latency' ? `${o.target} % of requests under ${o.thresholdMs} ms` : `${o.target} % of requests succeed`
}

const burn = (v: number) => (v >= 100 ? Math.round(v).toString() : v.toFixed(2))
const minutes = (m: number) => (m % 60 === 0 ? `${m / 60} h` : `${m} min`)

function sloCard(s: SloStatus): HTMLElement {
  const st = s.status
  const budget = st.window.budgetRemaining
  const firing = st.openAlerts.length > 0
  return h(
    'article',
    { class: `slo ${firing ? 'bad' : budget < 0.25 ? 'warn' : 'good'}`, 'data-slo': s.name },
    h('h3', {}, s.name, ' ', h('span', { class: 'muted' }, `on `, h('a', { href: `#/services/${encodeURIComponent(s.service)}` }, s.service))),
    h('p', {}, `Objective: ${objectiveText(s.objective)} over ${s.window}. `, s.description),
    h(
      'p',
      {},
      `Error budget left: `,
      h('strong', {}, `${Math.round(budget * 1000) / 10} %`),
      ` (${st.window.bad} bad of ${st.window.total} requests in the window). `,
      firing ? h('strong', { class: 'alert-text' }, `${st.openAlerts.length} open alert(s).`) : 'No open alerts.',
    ),
    table(
      ['Severity', 'Long window', 'Short window', 'Burn rate (long / short)', 'Fires at', 'Firing'],
      st.rules.map((r) => [r.severity, minutes(r.longMinutes), minutes(r.shortMinutes), `${burn(r.longBurn)} / ${burn(r.shortBurn)}`, `${r.threshold}×`, r.firing ? h('span', { class: 'pill bad' }, 'firing') : 'no']),
    ),
    h('p', { class: 'hint' }, `Evaluated ${ago(st.evaluatedAt)}. A rule fires when both of its windows burn the budget at least that many times faster than the objective allows.`),
  )
}

export const slos: View = async (root, ctx) => {
  const sloBox = h('div', {}, h('p', { class: 'loading' }, 'Loading SLOs…'))
  const alertBox = h('div', {})
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'SLOs and alerts')), section('Alerts', alertBox), section('SLOs', sloBox))
  const loadSlos = async () => {
    try {
      const page = await api<Page<Slo>>('/v1/slos?limit=100')
      if (!page.items.length) {
        sloBox.replaceChildren(
          empty('No SLOs yet.', 'Create one with `POST /v1/slos`, e.g. `{"name":"payments-latency","service":"payments","objective":{"type":"latency","thresholdMs":250,"target":99.9},"window":"14d"}`; alerts go to the webhooks of `POST /v1/webhooks`.'),
        )
        return
      }
      const statuses = await Promise.all(page.items.map((s) => api<SloStatus>(`/v1/slos/${encodeURIComponent(s.name)}`)))
      sloBox.replaceChildren(...statuses.map(sloCard))
    } catch (err) {
      sloBox.replaceChildren(errorBox(err, 'SLOs'))
    }
  }
  const loadAlerts = async () => {
    try {
      const page = await api<Page<Alert>>('/v1/alerts?limit=50')
      alertBox.replaceChildren(
        page.items.length
          ? table(
              ['State', 'Severity', 'SLO', 'Service', 'Opened', 'Resolved', 'Webhook deliveries'],
              page.items.map((a) => [
                h('span', { class: `pill ${a.state === 'open' ? 'bad' : 'good'}` }, a.state),
                a.severity,
                a.slo,
                h('a', { href: `#/services/${encodeURIComponent(a.service)}` }, a.service),
                time(a.openedAt),
                a.resolvedAt ? time(a.resolvedAt) : '–',
                a.deliveries.map((d) => `${d.state}${d.attempts > 1 ? ` after ${d.attempts} attempts` : ''}${d.lastError ? ` (${d.lastError})` : ''}`).join(', ') || 'no webhook configured',
              ]),
              { class: 'alerts' },
            )
          : h('p', { class: 'hint' }, 'No alerts: no SLO has burned its error budget fast enough to open one.'),
      )
    } catch (err) {
      alertBox.replaceChildren(errorBox(err, 'alerts'))
    }
  }
  await Promise.all([loadSlos(), loadAlerts()])
  every(30_000, ctx, async () => void (await Promise.all([loadSlos(), loadAlerts()])))
}
