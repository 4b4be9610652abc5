/* ktra dashboard: the automations panel — the site's webhook endpoints with
 * their health, the recent delivery attempts (filter by trigger and status),
 * redelivery of any of them, and enabling an endpoint disabled after failing too
 * long. Reads /v1/stats/webhooks; redelivers through /v1/admin/webhooks/{id}/redeliver
 * and enables through /v1/admin/webhooks/enable, all with the admin key. */

import { $, BASE, esc, int, state } from './common.js';

const filters = { trigger: '', status: '' };

/** Draws the panel from `/v1/stats/webhooks` (or an Error). */
export function renderAutomations(answer) {
  const p = $('[data-panel="automations"]');
  if (!p) return;
  if (answer instanceof Error) {
    p.dataset.state = 'error';
    $('.automation-note', p).textContent = `Could not load the activity log: ${answer.message}`;
    return;
  }
  const endpoints = answer.endpoints || [], deliveries = answer.deliveries || [];
  // The filters' choices come from the collector (its list of triggers and statuses).
  for (const [name, values] of [['trigger', answer.triggers], ['status', answer.statuses]]) {
    const select = $(`select[name="${name}"]`, p);
    if (select.options.length > 1 || !values) continue;
    select.insertAdjacentHTML('beforeend', values.map((v) => `<option>${esc(v)}</option>`).join(''));
  }
  $('.automation-note', p).textContent = endpoints.length
    ? `${endpoints.length} endpoint(s); the last ${deliveries.length} attempt(s)`
    : 'No webhook endpoints: configure [[sites.ID.webhooks]] or subscribe with POST /v1/hooks.';
  $('tbody.endpoints', p).innerHTML = endpoints.map((e) =>
    `<tr data-testid="endpoint-row" data-health="${esc(e.health)}">` +
    `<td data-col="url"><code>${esc(e.url)}</code></td><td data-col="source">${esc(e.source)}</td>` +
    `<td data-col="triggers">${esc(e.triggers.join(', '))}</td>` +
    `<td data-col="health"><span class="tag health-${esc(e.health)}">${esc(e.health)}</span></td>` +
    `<td data-col="delivered_24h" data-value="${esc(e.delivered_24h)}">${int(e.delivered_24h)}</td>` +
    `<td data-col="failed_24h" data-value="${esc(e.failed_24h)}">${int(e.failed_24h)}</td>` +
    `<td>${e.health === 'disabled'
      ? `<button type="button" class="ghost quiet enable" data-url="${esc(e.url)}" ` +
        `title="failing since ${esc(new Date(e.failing_since * 1000).toLocaleString('en-GB'))}">Enable</button>`
      : ''}</td></tr>`).join('');
  $('tbody.deliveries', p).innerHTML = deliveries.map((d) =>
    `<tr data-testid="delivery-row" data-status="${esc(d.status)}" data-delivery-id="${esc(d.delivery_id)}">` +
    `<td data-col="time">${esc(new Date(d.attempted_at * 1000).toLocaleString('en-GB'))}</td>` +
    `<td data-col="trigger"><span class="tag">${esc(d.trigger)}</span></td>` +
    `<td data-col="lead"><code>${esc(d.lead_id)}</code></td>` +
    `<td data-col="attempt" data-value="${esc(d.attempt)}">${int(d.attempt)}</td>` +
    `<td data-col="status"><span class="tag status-${esc(d.status)}">${esc(d.status)}</span></td>` +
    `<td data-col="response" title="${esc(d.error)}">${d.http_status ? esc(d.http_status) : esc(d.error || '–')}</td>` +
    `<td data-col="latency" data-value="${esc(d.latency_ms)}">${int(d.latency_ms)} ms</td>` +
    `<td><button type="button" class="ghost quiet redeliver" data-id="${esc(d.delivery_id)}">Redeliver</button></td></tr>`).join('');
  $('.automation-empty', p).hidden = deliveries.length > 0;
  p.dataset.state = 'ready';
  p.dataset.rows = String(deliveries.length);
}

/** The query string of the activity log for the current site and filters. */
export function automationsQuery() {
  const params = new URLSearchParams({ site: state.site });
  for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
  return `webhooks?${params}`;
}

/** Wires the filters and the redeliver buttons; `reload` fetches and redraws the panel. */
export function wireAutomations(reload) {
  const p = $('[data-panel="automations"]');
  if (!p) return;
  for (const name of Object.keys(filters)) {
    $(`select[name="${name}"]`, p).addEventListener('change', (e) => {
      filters[name] = e.target.value;
      reload();
    });
  }
  p.addEventListener('click', async (e) => {
    const button = e.target.closest('button.redeliver, button.enable');
    if (!button) return;
    button.disabled = true;
    const headers = { Authorization: `Bearer ${state.key}` };
    const response = button.classList.contains('enable')
      ? await fetch(`${BASE}/v1/admin/webhooks/enable`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: JSON.stringify({ site: state.site, url: button.dataset.url })
      })
      : await fetch(`${BASE}/v1/admin/webhooks/${encodeURIComponent(button.dataset.id)}/redeliver`, {
        method: 'POST',
        headers
      });
    button.textContent = response.ok ? (button.classList.contains('enable') ? 'Enabled' : 'Queued') : 'Failed';
    setTimeout(reload, 1500);
  });
}
