/* ktra dashboard: exploring — filters (a click on a row filters every panel;
 * the filters live in the URL), comparison with the previous period (the
 * cards' deltas), visitors online now, goals, funnels with breakdowns, weekly
 * retention, and a CSV download on every panel.
 *
 * Every request goes through the same `/v1/stats/…` endpoints with
 * `filter=`, `compare=previous` and `format=csv` (see collector/src/stats). */

import { API, $, $$, state, num, int, money, pct, duration, esc, orNone } from './common.js';
import { panel } from './panels.js';
import { updateEditButton } from './funnel-editor.js';

// Which column of which panel's rows filters by what (the collector's filter keys).
export const FILTERABLE = {
  pages: { key: 'path', col: 'path' },
  channels: { key: 'channel', col: 'channel' },
  campaigns: { key: 'utm_campaign', col: 'utm_campaign' },
  countries: { key: 'country', col: 'country' },
  devices: { key: 'device', col: 'device' },
  email: { key: 'message', col: 'message_id' }
};
// Queries that read no events (consent decisions, email opens and clicks): a filter cannot
// apply to them (the collector answers 400), so they are asked unfiltered.
const UNFILTERED = ['consent_rates', 'email_opens_clicks'];
const FILTER_LABELS = { path: 'Page', channel: 'Channel', utm_campaign: 'Campaign', country: 'Country', device: 'Device',
  message: 'Email message', referrer: 'Referrer', utm_source: 'Source', utm_medium: 'Medium' };

/** The filter parameter value: `key:value;key:value`. */
export const filterParam = () => Object.keys(state.filters || {}).map((k) => `${k}:${state.filters[k]}`).join(';');

/** Parses `key:value;…` (from the URL) into state.filters. */
export function readFilters(raw) {
  state.filters = {};
  for (const term of String(raw || '').split(';')) {
    const i = term.indexOf(':');
    if (i > 0) state.filters[term.slice(0, i)] = term.slice(i + 1);
  }
}

/** The extra query-string parameters of a library query (filter and comparison). */
export function extraParams(query) {
  const extra = {};
  const f = filterParam();
  if (f && !UNFILTERED.includes(query)) extra.filter = f;
  return extra;
}

/** Shows the active filters as chips, each with a remove button. */
export function renderFilters(reload) {
  const bar = $('#filters');
  const keys = Object.keys(state.filters || {});
  bar.hidden = keys.length === 0;
  bar.dataset.filter = filterParam();
  let html = '<span class="muted">Filtered to</span> ';
  for (const k of keys) {
    html += `<span class="chip" data-testid="filter-chip" data-key="${esc(k)}">${esc(FILTER_LABELS[k] || k)}: <b>${esc(orNone(state.filters[k]))}</b>` +
      `<button type="button" class="x" data-remove="${esc(k)}" aria-label="Remove filter ${esc(k)}">×</button></span> `;
  }
  html += '<button type="button" class="ghost quiet" data-testid="clear-filters" data-remove="*">Clear</button>';
  bar.innerHTML = html;
  for (const b of $$('[data-remove]', bar)) {
    b.addEventListener('click', () => {
      if (b.dataset.remove === '*') state.filters = {};
      else delete state.filters[b.dataset.remove];
      reload();
    });
  }
}

/** Makes the rows of filterable panels clickable: a click filters everything by that row. */
export function wireRowFilters(reload) {
  document.addEventListener('click', (e) => {
    const row = e.target.closest('tr[data-filter-key]');
    if (!row) return;
    state.filters = { ...(state.filters || {}), [row.dataset.filterKey]: row.dataset.filterValue };
    reload();
  });
  document.addEventListener('keydown', (e) => {
    const row = e.target.closest && e.target.closest('tr[data-filter-key]');
    if (row && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      row.click();
    }
  });
}

/** Adds the filter attributes to a numbers table's rows (called by panels' numbers()). */
export function markRows(name, table, rows) {
  const f = FILTERABLE[name];
  if (!f) return;
  $$('tbody tr', table).forEach((tr, i) => {
    const value = rows[i] ? rows[i][f.col] : undefined;
    if (value === undefined || value === null) return;
    tr.dataset.filterKey = f.key;
    tr.dataset.filterValue = String(value);
    tr.tabIndex = 0;
    tr.title = `Filter the dashboard to ${FILTER_LABELS[f.key]}: ${orNone(value)}`;
    tr.classList.add('filterable');
  });
}

// ---- CSV ---------------------------------------------------------------------------

/** The `/v1/stats/…` path (without `format`) each panel's CSV button downloads. */
const CSV_QUERY = {
  traffic: 'traffic', pages: 'top_pages', channels: 'channels', campaigns: 'utm_campaigns', revenue: 'attribution_touches',
  countries: 'countries', devices: 'devices', scroll: 'scroll_depth', video: 'video_engagement', forms: 'form_conversion',
  consent: 'consent_rates', email: 'email_funnel', purchases: 'attribution_purchases', goals: 'goals', funnel: 'funnel',
  retention: 'retention'
};

/** Adds a "CSV" button to every panel that has a query. */
export function addCsvButtons(api) {
  for (const name of Object.keys(CSV_QUERY)) {
    const p = panel(name);
    if (!p || $('.csv', p)) continue;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'ghost quiet csv';
    b.textContent = 'CSV';
    b.setAttribute('data-testid', `csv-${name}`);
    b.title = 'Download these numbers as CSV';
    b.addEventListener('click', () => downloadCsv(name, b, api));
    $('header', p).appendChild(b);
  }
}

async function downloadCsv(name, button, api) {
  const query = CSV_QUERY[name];
  const params = { site: state.site, from: state.from, to: state.to, format: 'csv', ...extraParams(query) };
  if (name === 'funnel') Object.assign(params, funnelParams());
  button.dataset.state = 'loading';
  try {
    const text = await api(`${query}?${qs(params)}`, true);
    const blob = new Blob([text], { type: 'text/csv' });
    const a = document.createElement('a');
    const file = `ktra-${state.site}-${name}.csv`;
    a.href = URL.createObjectURL(blob);
    a.download = file;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    // What was downloaded, for people checking and for tests.
    button.dataset.state = 'done';
    button.dataset.file = file;
    button.dataset.lines = String(text.split('\r\n').filter(Boolean).length);
    button.dataset.header = text.split('\r\n')[0];
  } catch (error) {
    button.dataset.state = 'error';
    button.title = `CSV failed: ${error.message}`;
  }
}

const qs = (params) => Object.keys(params).map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join('&');

// ---- deltas, online ----------------------------------------------------------------------

/** Deltas against the previous period on the cards, from `traffic`'s summary (`compare=previous`). */
export function renderDeltas(answer) {
  const now = answer?.summary || {}, before = answer?.previous?.summary || {};
  const cards = { visitors: 'visitors', 'page-views': 'page_views', sessions: 'sessions', purchases: 'purchases', revenue: 'revenue' };
  for (const id of Object.keys(cards)) {
    const card = $(`[data-testid="kpi-${id}"]`);
    if (!card) continue;
    let d = $('.delta', card);
    if (!d) {
      d = document.createElement('span');
      d.className = 'delta';
      d.setAttribute('data-testid', `delta-${id}`);
      card.appendChild(d);
    }
    const a = num(now[cards[id]]), b = num(before[cards[id]]);
    const change = b ? (a - b) / b : a ? 1 : 0;
    d.dataset.value = String(a);
    d.dataset.previous = String(b);
    d.classList.toggle('up', a > b);
    d.classList.toggle('down', a < b);
    const sign = a > b ? '▲' : a < b ? '▼' : '＝';
    d.textContent = b ? `${sign} ${pct(Math.abs(change))} vs previous` : a ? `${sign} new vs previous` : 'no change';
    d.title = `previous period: ${id === 'revenue' ? money(b) : int(b)}`;
  }
}

/** Polls "online now" every 15 s. */
export async function pollOnline(api) {
  clearTimeout(state.onlineTimer);
  if (!state.key || !state.site) return;
  try {
    const answer = await api(`online?${qs({ site: state.site, ...extraParams('online') })}`);
    const el = $('#online');
    el.hidden = false;
    el.dataset.value = String(num(answer.visitors));
    $('.n', el).textContent = int(answer.visitors);
  } catch {
    // the next poll retries
  }
  state.onlineTimer = setTimeout(() => pollOnline(api), 15000);
}

// ---- goals, funnels, retention ---------------------------------------------------------

/** Fills the funnel picker from the site's definitions (`/v1/stats/sites`). */
export function setDefinitions(defs) {
  state.defs = defs || { goals: {}, funnels: {} };
  const select = $('#funnel-select');
  const names = Object.keys(state.defs.funnels || {});
  select.textContent = '';
  for (const n of names) {
    const o = document.createElement('option');
    o.value = o.textContent = n;
    select.appendChild(o);
  }
  if (names.includes(state.funnel)) select.value = state.funnel;
  else state.funnel = names[0] || '';
  // No funnel yet: no empty pickers, only "New funnel".
  select.closest('label').hidden = !names.length;
  $('#breakdown-select').closest('label').hidden = !names.length;
  updateEditButton();
}

function funnelParams() {
  const p = { funnel: state.funnel };
  if (state.breakdown) p.breakdown = state.breakdown;
  return p;
}

/** Loads goals, the picked funnel and retention (each with the filter and the comparison). */
export async function loadExplore(api, load) {
  const base = { site: state.site, from: state.from, to: state.to };
  const f = extraParams('');
  const jobs = [
    api(`goals?${qs({ ...base, ...f, compare: 'previous' })}`).then(renderGoals, (e) => failed('goals', e)),
    // Cohorts need weeks: at least the last 8 weeks, whatever the range.
    api(`retention?${qs({ ...base, from: Math.min(state.from, state.to - 56 * 86400), ...f })}`).then(renderRetention, (e) => failed('retention', e))
  ];
  if (state.funnel) {
    jobs.push(api(`funnel?${qs({ ...base, ...f, ...funnelParams() })}`).then(renderFunnel, (e) => failed('funnel', e)));
  } else {
    const p = panel('funnel');
    p.dataset.state = 'empty';
    $('.funnel-body', p).innerHTML = state.share
      ? '<p class="empty">No funnels for this site yet.</p>'
      : '<p class="empty">No funnels yet for this site: build one with <strong>New funnel</strong>, or add <code>[sites.ID.funnels.NAME]</code> to the config and send the collector a SIGHUP.</p>';
  }
  await Promise.all(jobs);
  return load;
}

function failed(name, error) {
  const p = panel(name);
  p.dataset.state = 'error';
  const body = $(`.${name}-body`, p);
  if (body) body.innerHTML = `<p class="err">Could not load ${esc(name)}: ${esc(error.message || error)}</p>`;
}

function renderGoals(answer) {
  const p = panel('goals');
  const rows = answer.rows || [];
  const before = {};
  for (const r of answer.previous?.rows || []) before[r.goal] = r;
  p.dataset.state = rows.length ? 'ready' : 'empty';
  p.dataset.rows = String(rows.length);
  if (!rows.length) {
    $('.goals-body', p).innerHTML = '<p class="empty">No goals are configured for this site (<code>[sites.ID.goals.NAME]</code>).</p>';
    return;
  }
  let html = '<div class="table-wrap"><table class="numbers" data-testid="table-goals"><thead><tr><th>Goal</th><th>Matches</th>' +
    '<th class="num">Conversions</th><th class="num">Visitors</th><th class="num">Rate</th><th class="num">Revenue</th><th class="num">vs previous</th></tr></thead><tbody>';
  for (const r of rows) {
    const b = before[r.goal];
    const delta = b ? num(r.visitors) - num(b.visitors) : 0;
    html += `<tr data-testid="row-goals" data-goal="${esc(r.goal)}"><td data-col="goal">${esc(r.goal)}</td><td data-col="label"><code>${esc(r.label)}</code></td>` +
      `<td class="num" data-col="conversions" data-value="${esc(r.conversions)}">${int(r.conversions)}</td>` +
      `<td class="num" data-col="visitors" data-value="${esc(r.visitors)}">${int(r.visitors)}</td>` +
      `<td class="num" data-col="conversion_rate" data-value="${esc(r.conversion_rate)}">${pct(r.conversion_rate)}</td>` +
      `<td class="num" data-col="revenue" data-value="${esc(r.revenue)}">${money(r.revenue)}</td>` +
      `<td class="num delta ${delta > 0 ? 'up' : delta < 0 ? 'down' : ''}">${delta > 0 ? '+' : ''}${int(delta)}</td></tr>`;
  }
  $('.goals-body', p).innerHTML = `${html}</tbody></table></div>`;
}

function steps(list, label) {
  const first = num(list[0]?.visitors);
  let html = label ? `<h3 class="group">${esc(label)}</h3>` : '';
  html += '<ol class="steps">';
  for (const s of list) {
    const width = first ? Math.max(2, Math.round((num(s.visitors) / first) * 100)) : 0;
    html += `<li data-testid="funnel-step" data-step="${s.step}" data-visitors="${esc(s.visitors)}">` +
      `<div class="step-head"><span class="step-label">${s.step}. ${esc(s.label)}</span>` +
      `<span class="step-n">${int(s.visitors)} ${num(s.visitors) === 1 ? 'visitor' : 'visitors'} · ${pct(s.conversion_from_first)} of first · ${pct(s.conversion_from_previous)} of previous</span></div>` +
      `<div class="bar"><span data-width="${width}"></span></div>` +
      (s.drop_off != null ? `<div class="drop">↓ ${int(s.drop_off)} dropped · median ${duration(s.median_secs_to_next)} to next step</div>` : '') +
      '</li>';
  }
  return `${html}</ol>`;
}

function renderFunnel(answer) {
  const p = panel('funnel');
  p.dataset.state = 'ready';
  p.dataset.funnel = answer.funnel;
  let html = `<p class="muted">${esc(answer.order)} order · within ${duration(answer.window_secs)}</p>` + steps(answer.steps || []);
  const groups = answer.breakdown?.groups || [];
  if (answer.breakdown) {
    html += `<div class="groups" data-testid="funnel-groups" data-by="${esc(answer.breakdown.by)}">`;
    for (const g of groups) html += `<div class="group-box" data-testid="funnel-group" data-value="${esc(g.value)}">${steps(g.steps, orNone(g.value))}</div>`;
    html += groups.length ? '</div>' : '<p class="empty">No visitors entered the funnel.</p></div>';
  }
  const body = $('.funnel-body', p);
  body.innerHTML = html;
  // Widths through the CSSOM: the dashboard's CSP allows no inline style attributes.
  for (const bar of $$('.bar span', body)) bar.style.width = `${bar.dataset.width}%`;
}

function renderRetention(answer) {
  const p = panel('retention');
  const rows = answer.rows || [];
  p.dataset.state = rows.length ? 'ready' : 'empty';
  p.dataset.rows = String(rows.length);
  if (!rows.length) {
    $('.retention-body', p).innerHTML = '<p class="empty">No visitors in these weeks.</p>';
    return;
  }
  const weeks = 8;
  let html = '<div class="table-wrap"><table class="numbers retention" data-testid="table-retention"><thead><tr><th>Week of</th><th class="num">Visitors</th>';
  for (let w = 1; w <= weeks; w++) html += `<th class="num">+${w} w</th>`;
  html += '</tr></thead><tbody>';
  for (const r of rows) {
    const n = num(r.visitors);
    html += `<tr data-testid="row-retention"><td data-col="cohort">${esc(r.cohort)}</td><td class="num" data-col="visitors" data-value="${esc(r.visitors)}">${int(n)}</td>`;
    for (let w = 1; w <= weeks; w++) {
      const v = num(r[`w${w}`]);
      const share = n ? v / n : 0;
      html += `<td class="num heat h${Math.min(5, Math.ceil(share * 5))}" data-col="w${w}" data-value="${v}" title="${int(v)} visitors">${v ? pct(share) : '–'}</td>`;
    }
    html += '</tr>';
  }
  $('.retention-body', p).innerHTML = `${html}</tbody></table></div>`;
}

/** Reloads the funnel panel only (the picked funnel, with the filter). */
export function reloadFunnel(api) {
  if (!state.funnel) return loadExplore(api, state.load);
  const base = { site: state.site, from: state.from, to: state.to };
  panel('funnel').dataset.state = 'loading';
  return api(`funnel?${qs({ ...base, ...extraParams(''), ...funnelParams() })}`).then(renderFunnel, (e) => failed('funnel', e));
}

/** Funnel picker and breakdown: reload the funnel panel only. */
export function wireExplore(api) {
  $('#funnel-select').addEventListener('change', (e) => {
    state.funnel = e.target.value;
    updateEditButton();
    reloadFunnel(api);
  });
  $('#breakdown-select').addEventListener('change', (e) => {
    state.breakdown = e.target.value;
    reloadFunnel(api);
  });
}
