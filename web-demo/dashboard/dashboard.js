/* ktra dashboard. Plain JS (an ES module, so strict and scoped to itself);
 * charts by Chart.js (vendor/, MIT, the `Chart` global).
 *
 * Every panel is one or more queries of the ktra query library, fetched from
 * `/v1/stats/{query}?site=S&from=UNIX&to=UNIX` with the admin key (kept in
 * sessionStorage). Each panel also renders the numbers it charts as a table
 * (`data-testid="table-<panel>"`, cells with `data-col` and `data-value`),
 * and sets `data-state` (loading, ready, empty, error) so that tests and
 * people can read exactly what is drawn.
 *
 * The file is served as written (the build copies it), so it is the code the
 * browser runs. */

const KEY_STORE = 'ktra_admin_key';
const PREF_STORE = 'ktra_dashboard';
// The dashboard is served at {BASE}/dashboard: a collector behind a path
// prefix serves the API under the same prefix.
const BASE = location.pathname.replace(/\/dashboard(\/.*)?$/, '');
const API = `${BASE}/v1/stats/`;
const LIVE_MS = 2000;
const DAY = 86400; // seconds
const COLORS = ['#4f46e5', '#0d9488', '#f59e0b', '#e11d48', '#0284c7', '#7c3aed', '#65a30d', '#64748b', '#db2777', '#ea580c'];
const GRID_COLOR = '#eef0f4';
const MUTED_COLOR = '#5f6877';
const KEY_REJECTED = 'The admin key was not accepted.';
// Every library query the panels read, fetched once per load.
const QUERIES = ['traffic_daily', 'top_pages', 'channels', 'utm_campaigns', 'countries', 'devices', 'scroll_depth',
  'video_engagement', 'form_conversion', 'consent_rates', 'email_funnel', 'email_opens_clicks',
  'email_click_to_purchase', 'attribution_touches', 'attribution_purchases'];

const $ = (selector, root) => (root || document).querySelector(selector);
const $$ = (selector, root) => [...(root || document).querySelectorAll(selector)];

const state = {
  key: '', // the admin key
  site: '',
  range: '7d', // 24h, 7d, 30d or custom
  from: 0, // the range loaded, Unix seconds
  to: 0,
  charts: {}, // Chart instances by panel, destroyed before a panel is redrawn
  load: 0, // increases with every load: an answer to an older one is dropped
  currency: '', // the one currency of the range's purchases, if there is one
  live: { timer: 0, paused: false, seen: null } // seen: event ids shown by the last poll
};

const integerFormat = new Intl.NumberFormat('en');
const oneDecimalFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const regionNames = (() => {
  try {
    return new Intl.DisplayNames(['en'], { type: 'region' });
  } catch {
    return null; // an engine without DisplayNames: countries show as codes
  }
})();

// ---- HTTP ----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET `{API}{path}` with the admin key; the JSON body, or an ApiError with the collector's message. */
async function api(path) {
  const response = await fetch(API + path, { headers: { Authorization: `Bearer ${state.key}` }, cache: 'no-store' });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  if (!response.ok) throw new ApiError(response.status, body?.message || text || response.statusText);
  return body;
}

const queryString = (params) =>
  Object.keys(params).map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join('&');

// ---- formatting ------------------------------------------------------------

// ClickHouse's JSON writes 64-bit integers as strings: every number is read through num().
const num = (v) => {
  const n = Number(v);
  return isFinite(n) ? n : 0;
};
const int = (v) => integerFormat.format(num(v));
const money = (v) => {
  if (state.currency) {
    try {
      return new Intl.NumberFormat('en', { style: 'currency', currency: state.currency }).format(num(v));
    } catch {
      // an unknown currency code: a plain amount below
    }
  }
  return new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(num(v));
};
const pct = (fraction) => `${oneDecimalFormat.format(num(fraction) * 100)} %`;
const secs = (ms) => (num(ms) ? `${oneDecimalFormat.format(num(ms) / 1000)} s` : '–');
const duration = (seconds) => {
  const s = num(seconds);
  if (s < 90) return `${oneDecimalFormat.format(s)} s`;
  if (s < 5400) return `${oneDecimalFormat.format(s / 60)} min`;
  return `${oneDecimalFormat.format(s / 3600)} h`;
};
/** '2026-11-05' → '5 Nov' (labels only; tables keep the day as the query answers it). */
const dayLabel = (day) => {
  const parts = String(day).split('-').map(Number);
  if (parts.length !== 3) return day;
  const [y, m, d] = parts;
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
};
const country = (code) => {
  if (!code) return 'Unknown';
  const name = regionNames ? regionNames.of(code) : '';
  return name && name !== code ? `${name} (${code})` : code;
};
const orNone = (s, none) => (s === '' || s == null ? none || '(none)' : s);
const orDash = (v) => orNone(v, '—');
const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
const sum = (rows, col) => rows.reduce((total, row) => total + num(row[col]), 0);
/** Sums `valueCol` by `keyCol` (empty keys as 'Unknown'): [{key, value}], largest first, then by key. */
const groupSum = (rows, keyCol, valueCol) => {
  const totals = {};
  for (const row of rows) {
    const key = orNone(row[keyCol], 'Unknown');
    totals[key] = (totals[key] || 0) + num(row[valueCol]);
  }
  return Object.keys(totals)
    .map((key) => ({ key, value: totals[key] }))
    .sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : 1));
};

// ---- range -----------------------------------------------------------------

/** A local date as an <input type=date> value (YYYY-MM-DD). */
const dateInput = (d) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

/** {from, to} in Unix seconds for the picked range; null when a custom date is missing. */
function computeRange() {
  // Rounded up to the minute: reloads within a minute ask the same range.
  const now = Math.ceil(Date.now() / 60000) * 60;
  const spans = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY };
  if (state.range !== 'custom') return { from: now - spans[state.range], to: now };
  const fromValue = $('#from').value, toValue = $('#to').value;
  if (!fromValue || !toValue) return null;
  // Local midnights, from the start of the first day to the end of the last.
  const [fy, fm, fd] = fromValue.split('-').map(Number);
  const [ty, tm, td] = toValue.split('-').map(Number);
  return { from: new Date(fy, fm - 1, fd).getTime() / 1000, to: new Date(ty, tm - 1, td + 1).getTime() / 1000 };
}
function rangeLabel() {
  const style = { dateStyle: 'medium', timeStyle: 'short' };
  const from = new Date(state.from * 1000), to = new Date(state.to * 1000);
  return `Site ${state.site} · ${from.toLocaleString('en-GB', style)} → ${to.toLocaleString('en-GB', style)}`;
}
/** Every UTC day of the range, as ClickHouse prints Date (YYYY-MM-DD). */
function days() {
  const out = [];
  for (let t = Math.floor(state.from / DAY) * DAY; t < state.to; t += DAY) out.push(new Date(t * 1000).toISOString().slice(0, 10));
  return out;
}
/** Rows with a `day`, on every day of the range (and any day the rows add), sorted:
 * {labels: the days, column(c): c of each day's row, 0 for a day without one}. */
function perDay(rows) {
  const byDay = {};
  for (const row of rows) byDay[row.day] = row;
  const labels = days();
  for (const row of rows) if (!labels.includes(row.day)) labels.push(row.day);
  labels.sort();
  const column = (col) => labels.map((day) => (byDay[day] ? num(byDay[day][col]) : 0));
  return { labels, column };
}

// ---- panels: chart + numbers ----------------------------------------------------

const panel = (name) => $(`[data-panel="${name}"]`);
function setState(name, panelState, message) {
  const p = panel(name);
  p.dataset.state = panelState;
  p.classList.toggle('loading', panelState === 'loading');
  let err = $('.err', p);
  if (panelState === 'error') {
    if (!err) {
      err = document.createElement('p');
      err.className = 'err';
      p.appendChild(err);
    }
    err.textContent = message;
    err.setAttribute('data-testid', `error-${name}`);
  } else if (err) err.remove();
}
function clearPanel(name) {
  const p = panel(name);
  // The live panel's own empty note stays: it is part of the page, not of a load.
  for (const e of $$('.numbers-box, .empty:not([data-testid=live-empty])', p)) e.remove();
  for (const c of state.charts[name] || []) c.destroy();
  state.charts[name] = [];
}
function showEmpty(name, text) {
  const p = panel(name);
  const box = $('.chart', p);
  if (box) box.hidden = true;
  const note = document.createElement('p');
  note.className = 'empty';
  note.setAttribute('data-testid', `empty-${name}`);
  note.textContent = text || 'No data in this range.';
  p.appendChild(note);
  p.dataset.state = 'empty';
  p.dataset.rows = '0';
}
/** Draws `config` on the panel's `index`th canvas. */
function chart(name, index, config) {
  const box = $('.chart', panel(name));
  if (!box) return;
  box.hidden = false;
  const canvas = $$('canvas', box)[index];
  config.options = { responsive: true, maintainAspectRatio: false, ...config.options };
  state.charts[name].push(new Chart(canvas, config));
}
/** Renders the rows as a table of what is charted. columns: [{key, label, num, fmt(raw, row),
 * value(row) (raw value other than row[key]), html (fmt returns HTML)}]. */
function numbers(name, columns, rows, open) {
  const p = panel(name);
  const details = document.createElement('details');
  details.className = 'numbers-box';
  if (open) details.open = true;
  const numClass = (c) => (c.num ? ' class="num"' : '');
  let html = `<summary>Numbers (${rows.length}${rows.length === 1 ? ' row' : ' rows'})</summary><div class="table-wrap"><table class="numbers" data-testid="table-${name}"><thead><tr>`;
  for (const c of columns) html += `<th${numClass(c)} data-col="${esc(c.key)}">${esc(c.label)}</th>`;
  html += '</tr></thead><tbody>';
  for (const row of rows) {
    html += `<tr data-testid="row-${name}">`;
    for (const c of columns) {
      const raw = c.value ? c.value(row) : row[c.key];
      const shown = c.fmt ? c.fmt(raw, row) : c.num ? int(raw) : orNone(raw);
      html += `<td${numClass(c)} data-col="${esc(c.key)}" data-value="${esc(raw ?? '')}" title="${esc(shown)}">${c.html ? shown : esc(shown)}</td>`;
    }
    html += '</tr>';
  }
  details.innerHTML = `${html}</tbody></table></div>`;
  p.appendChild(details);
  p.dataset.rows = String(rows.length);
}

// Chart.js option pieces shared by the panels.
const axisInt = { beginAtZero: true, ticks: { precision: 0 }, grid: { color: GRID_COLOR } };
const noGrid = { grid: { display: false } };
const legendBottom = () => ({ position: 'bottom', labels: { boxWidth: 12, boxHeight: 12, usePointStyle: true } });
/** A horizontal bar chart; `options` replace the defaults key by key. */
const hbar = (labels, datasets, options) => ({
  type: 'bar',
  data: { labels, datasets },
  options: {
    indexAxis: 'y',
    scales: { x: axisInt, y: noGrid },
    plugins: { legend: { display: datasets.length > 1, position: 'bottom' } },
    ...options
  }
});
/** A doughnut of [{key, value}]. */
const doughnut = (title, items) => ({
  type: 'doughnut',
  data: {
    labels: items.map((i) => i.key),
    datasets: [{ data: items.map((i) => i.value), backgroundColor: COLORS, borderWidth: 2, borderColor: '#fff' }]
  },
  options: {
    cutout: '62%',
    plugins: {
      legend: { position: 'right', labels: { boxWidth: 12, boxHeight: 12 } },
      title: { display: !!title, text: title, align: 'start', color: MUTED_COLOR }
    }
  }
});
/** The first n - 1 items and the rest summed as 'Other' (n items at most). */
function top(items, n) {
  if (items.length <= n) return items;
  const rest = items.slice(n - 1).reduce((total, i) => total + i.value, 0);
  return [...items.slice(0, n - 1), { key: 'Other', value: rest }];
}
/** A touch as a coloured tag (email, utm, none) and its name. */
const touchTag = (type) => `<span class="tag ${esc(type)}">${esc(type)}</span>`;

// One function per panel (the `data-panel` name): draws it from the query results `d`.
const RENDER = {
  traffic(d) {
    const rows = d.traffic_daily;
    if (!rows.length) return showEmpty('traffic');
    const { labels, column } = perDay(rows);
    chart('traffic', 0, {
      data: {
        labels: labels.map(dayLabel),
        datasets: [
          { type: 'bar', label: 'Page views', data: column('page_views'), backgroundColor: 'rgba(79,70,229,.18)', borderColor: 'rgba(79,70,229,.5)', borderWidth: 1, borderRadius: 4, order: 3 },
          { type: 'line', label: 'Visitors', data: column('visitors'), borderColor: COLORS[0], backgroundColor: COLORS[0], tension: 0.3, pointRadius: 3, order: 1 },
          { type: 'line', label: 'Sessions', data: column('sessions'), borderColor: COLORS[1], backgroundColor: COLORS[1], tension: 0.3, pointRadius: 3, borderDash: [5, 4], order: 2 }
        ]
      },
      options: { interaction: { mode: 'index', intersect: false }, scales: { y: axisInt, x: noGrid }, plugins: { legend: legendBottom() } }
    });
    numbers('traffic', [
      { key: 'day', label: 'Day' },
      { key: 'visitors', label: 'Visitors', num: 1 },
      { key: 'sessions', label: 'Sessions', num: 1 },
      { key: 'page_views', label: 'Page views', num: 1 }
    ], rows);
  },

  pages(d) {
    const rows = d.top_pages;
    if (!rows.length) return showEmpty('pages');
    const shown = rows.slice(0, 8);
    chart('pages', 0, hbar(shown.map((r) => r.path), [
      { label: 'Page views', data: shown.map((r) => num(r.page_views)), backgroundColor: COLORS[0], borderRadius: 4 },
      { label: 'Visitors', data: shown.map((r) => num(r.visitors)), backgroundColor: 'rgba(13,148,136,.75)', borderRadius: 4 }
    ]));
    numbers('pages', [
      { key: 'path', label: 'Page' },
      { key: 'page_views', label: 'Views', num: 1 },
      { key: 'visitors', label: 'Visitors', num: 1 },
      { key: 'avg_engaged_ms', label: 'Avg. engaged', num: 1, fmt: secs }
    ], rows, true);
  },

  channels(d) {
    const rows = d.channels;
    if (!rows.length) return showEmpty('channels');
    chart('channels', 0, doughnut('', top(groupSum(rows, 'channel', 'sessions'), 7)));
    numbers('channels', [
      { key: 'channel', label: 'Channel' },
      { key: 'referrer_host', label: 'Referrer', fmt: orDash },
      { key: 'sessions', label: 'Sessions', num: 1 },
      { key: 'purchases', label: 'Purchases', num: 1 },
      { key: 'revenue', label: 'Revenue', num: 1, fmt: money }
    ], rows, true);
  },

  campaigns(d) {
    const rows = d.utm_campaigns;
    if (!rows.length) return showEmpty('campaigns', 'No UTM-tagged sessions in this range.');
    const shown = rows.slice(0, 8);
    const label = (r) => `${orNone(r.utm_campaign)} (${r.utm_source}${r.utm_medium ? ` / ${r.utm_medium}` : ''})`;
    chart('campaigns', 0, hbar(shown.map(label), [
      { label: 'Sessions', data: shown.map((r) => num(r.sessions)), backgroundColor: COLORS[0], borderRadius: 4 },
      { label: 'Form submits', data: shown.map((r) => num(r.form_submits)), backgroundColor: COLORS[2], borderRadius: 4 },
      { label: 'Purchases', data: shown.map((r) => num(r.purchases)), backgroundColor: COLORS[1], borderRadius: 4 }
    ]));
    numbers('campaigns', [
      { key: 'utm_source', label: 'Source' },
      { key: 'utm_medium', label: 'Medium' },
      { key: 'utm_campaign', label: 'Campaign' },
      { key: 'sessions', label: 'Sessions', num: 1 },
      { key: 'form_submits', label: 'Forms', num: 1 },
      { key: 'purchases', label: 'Purchases', num: 1 },
      { key: 'revenue', label: 'Revenue', num: 1, fmt: money }
    ], rows, true);
  },

  revenue(d) {
    const rows = d.attribution_touches;
    if (!rows.length) return showEmpty('revenue', 'No purchases in this range.');
    const shown = rows.slice(0, 8);
    // ✉ an email message, # a UTM campaign.
    const label = (r) => (r.touch_type === 'none' ? 'No touch' : (r.touch_type === 'email' ? '✉ ' : '# ') + r.touch);
    chart('revenue', 0, hbar(shown.map(label), [
      { label: 'First-touch revenue', data: shown.map((r) => num(r.first_touch_revenue)), backgroundColor: COLORS[5], borderRadius: 4 },
      { label: 'Last-touch revenue', data: shown.map((r) => num(r.last_touch_revenue)), backgroundColor: COLORS[1], borderRadius: 4 }
    ], { scales: { x: { beginAtZero: true, grid: { color: GRID_COLOR } }, y: noGrid } }));
    numbers('revenue', [
      { key: 'touch_type', label: 'Type', fmt: touchTag, html: 1 },
      { key: 'touch', label: 'Message / campaign', fmt: orDash },
      { key: 'first_touch_purchases', label: 'First: buys', num: 1 },
      { key: 'first_touch_revenue', label: 'First: revenue', num: 1, fmt: money },
      { key: 'last_touch_purchases', label: 'Last: buys', num: 1 },
      { key: 'last_touch_revenue', label: 'Last: revenue', num: 1, fmt: money }
    ], rows, true);
  },

  countries(d) {
    const rows = d.countries;
    if (!rows.length) return showEmpty('countries');
    const shown = rows.slice(0, 10);
    chart('countries', 0, hbar(shown.map((r) => country(r.country)), [
      { label: 'Visitors', data: shown.map((r) => num(r.visitors)), backgroundColor: COLORS[4], borderRadius: 4 }
    ]));
    numbers('countries', [
      { key: 'country', label: 'Country', fmt: (v) => country(v) },
      { key: 'visitors', label: 'Visitors', num: 1 }
    ], rows);
  },

  devices(d) {
    const rows = d.devices;
    if (!rows.length) return showEmpty('devices');
    chart('devices', 0, doughnut('Browser', top(groupSum(rows, 'browser', 'visitors'), 6)));
    chart('devices', 1, doughnut('Device', top(groupSum(rows, 'device', 'visitors'), 6)));
    numbers('devices', [
      { key: 'browser', label: 'Browser' },
      { key: 'os', label: 'OS' },
      { key: 'device', label: 'Device' },
      { key: 'visitors', label: 'Visitors', num: 1 }
    ], rows);
  },

  scroll(d) {
    const rows = d.scroll_depth;
    if (!rows.length) return showEmpty('scroll');
    chart('scroll', 0, {
      type: 'bar',
      data: {
        labels: rows.map((r) => `${r.depth} %`),
        datasets: [{
          label: 'Page views reaching',
          data: rows.map((r) => num(r.page_views_reaching)),
          // Deeper is paler.
          backgroundColor: rows.map((_, i) => `rgba(79,70,229,${1 - i * 0.15})`),
          borderRadius: 6
        }]
      },
      options: { scales: { y: axisInt, x: noGrid }, plugins: { legend: { display: false } } }
    });
    numbers('scroll', [
      { key: 'depth', label: 'Depth (%)', num: 1 },
      { key: 'page_views_reaching', label: 'Page views reaching', num: 1 }
    ], rows);
  },

  video(d) {
    const rows = d.video_engagement;
    if (!rows.length) return showEmpty('video', 'No video played in this range.');
    const steps = [['starts', 'Start'], ['p25', '25 %'], ['p50', '50 %'], ['p75', '75 %'], ['completes', 'Complete']];
    chart('video', 0, {
      type: 'bar',
      data: {
        labels: steps.map(([, label]) => label),
        // One group of bars per video, the first four.
        datasets: rows.slice(0, 4).map((r, i) => ({
          label: r.video_id,
          data: steps.map(([col]) => num(r[col])),
          backgroundColor: COLORS[(i + 3) % COLORS.length],
          borderRadius: 6
        }))
      },
      options: { scales: { y: axisInt, x: noGrid }, plugins: { legend: legendBottom() } }
    });
    numbers('video', [
      { key: 'video_id', label: 'Video' },
      { key: 'starts', label: 'Starts', num: 1 },
      { key: 'p25', label: '25 %', num: 1 },
      { key: 'p50', label: '50 %', num: 1 },
      { key: 'p75', label: '75 %', num: 1 },
      { key: 'completes', label: 'Completes', num: 1 },
      { key: 'completion', label: 'Completion', num: 1, value: (r) => (num(r.starts) ? num(r.completes) / num(r.starts) : 0), fmt: pct }
    ], rows);
  },

  forms(d) {
    const rows = d.form_conversion;
    if (!rows.length) return showEmpty('forms', 'No form submitted in this range.');
    chart('forms', 0, hbar(rows.map((r) => orNone(r.form_id, '(unnamed form)')), [
      // A fraction, charted in percent with one decimal.
      { label: 'Conversion (% of sessions)', data: rows.map((r) => Math.round(num(r.conversion) * 1000) / 10), backgroundColor: COLORS[2], borderRadius: 4 }
    ], { scales: { x: { beginAtZero: true, suggestedMax: 10, ticks: { callback: (v) => `${v} %` }, grid: { color: GRID_COLOR } }, y: noGrid } }));
    numbers('forms', [
      { key: 'form_id', label: 'Form' },
      { key: 'submits', label: 'Submits', num: 1 },
      { key: 'sessions_submitting', label: 'Sessions submitting', num: 1 },
      { key: 'sessions_total', label: 'All sessions', num: 1 },
      { key: 'conversion', label: 'Conversion', num: 1, fmt: pct }
    ], rows, true);
  },

  consent(d) {
    const rows = d.consent_rates;
    if (!rows.length) return showEmpty('consent', 'No consent decisions in this range.');
    const { labels, column } = perDay(rows);
    const series = [['accepted', 'Accepted all', '#16a34a'], ['customized', 'Customized', '#f59e0b'], ['rejected', 'Rejected all', '#64748b'], ['withdrawn', 'Withdrawn', '#e11d48']];
    chart('consent', 0, {
      type: 'bar',
      data: {
        labels: labels.map(dayLabel),
        datasets: series.map(([col, label, color]) => ({ label, data: column(col), backgroundColor: color, stack: 'c', borderRadius: 2 }))
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        scales: { x: { stacked: true, ...noGrid }, y: { stacked: true, ...axisInt } },
        plugins: { legend: legendBottom() }
      }
    });
    numbers('consent', [
      { key: 'day', label: 'Day' },
      { key: 'decisions', label: 'Decisions', num: 1 },
      { key: 'accepted', label: 'Accepted', num: 1 },
      { key: 'rejected', label: 'Rejected', num: 1 },
      { key: 'customized', label: 'Customized', num: 1 },
      { key: 'withdrawn', label: 'Withdrawn', num: 1 }
    ], rows);
  },

  // Three queries joined by message id: opens (with mail-proxy opens apart), the
  // click → session → purchase funnel, and the median time from click to purchase.
  email(d) {
    const opens = {}, funnel = {}, toPurchase = {}, ids = [];
    const add = (id) => {
      if (!ids.includes(id)) ids.push(id);
    };
    for (const r of d.email_opens_clicks) {
      opens[r.message_id] = r;
      add(r.message_id);
    }
    for (const r of d.email_funnel) {
      funnel[r.message_id] = r;
      add(r.message_id);
    }
    for (const r of d.email_click_to_purchase) toPurchase[r.message_id] = r;
    if (!ids.length) return showEmpty('email', 'No email opens or clicks in this range.');
    const rows = ids.map((id) => {
      const o = opens[id] || {}, f = funnel[id] || {}, t = toPurchase[id] || {};
      return {
        message_id: id,
        opens: num(o.opens),
        leads_opened: num(o.leads_opened),
        proxy_opens: num(o.proxy_opens),
        // Human clicks from the funnel; a message only opened has its clicks in the opens query.
        clicks: num(f.clicks !== undefined ? f.clicks : o.clicks),
        bot_clicks: num(f.bot_clicks),
        click_to_open: num(o.click_to_open),
        sessions: num(f.sessions),
        form_submits: num(f.form_submits),
        purchases: num(f.purchases),
        revenue: num(f.revenue),
        median_seconds: t.median_seconds === undefined ? null : num(t.median_seconds)
      };
    });
    const steps = [['opens', 'Opens', COLORS[7]], ['clicks', 'Clicks', COLORS[0]], ['sessions', 'Sessions', COLORS[4]], ['purchases', 'Purchases', COLORS[1]]];
    chart('email', 0, {
      type: 'bar',
      data: {
        labels: rows.map((r) => r.message_id),
        datasets: steps.map(([col, label, color]) => ({ label, data: rows.map((r) => r[col]), backgroundColor: color, borderRadius: 4 }))
      },
      options: { scales: { y: axisInt, x: noGrid }, plugins: { legend: legendBottom() } }
    });
    numbers('email', [
      { key: 'message_id', label: 'Message' },
      { key: 'opens', label: 'Opens', num: 1 },
      { key: 'proxy_opens', label: 'Proxy opens', num: 1 },
      { key: 'clicks', label: 'Clicks', num: 1 },
      { key: 'bot_clicks', label: 'Scanner clicks', num: 1 },
      { key: 'click_to_open', label: 'Click-to-open', num: 1, fmt: pct },
      { key: 'sessions', label: 'Sessions', num: 1 },
      { key: 'form_submits', label: 'Forms', num: 1 },
      { key: 'purchases', label: 'Purchases', num: 1 },
      { key: 'revenue', label: 'Revenue', num: 1, fmt: money },
      { key: 'median_seconds', label: 'Click → buy (median)', num: 1, fmt: (v) => (v == null ? '–' : duration(v)) }
    ], rows, true);
  },

  purchases(d) {
    // The query lists the oldest first; the table shows the latest on top.
    const rows = d.attribution_purchases.slice().reverse();
    if (!rows.length) return showEmpty('purchases', 'No purchases in this range.');
    const touch = (type, name) => `${touchTag(type)} ${esc(name || '')}`;
    // Each order in its own currency, whatever the range's other orders use.
    const orderValue = (v, r) => {
      try {
        return new Intl.NumberFormat('en', { style: 'currency', currency: r.currency || 'EUR' }).format(num(v));
      } catch {
        return money(v);
      }
    };
    numbers('purchases', [
      { key: 'purchased_at', label: 'Time' },
      { key: 'order_id', label: 'Order' },
      { key: 'revenue', label: 'Value', num: 1, fmt: orderValue },
      { key: 'first_touch', label: 'First touch', html: 1, fmt: (v, r) => touch(r.first_touch_type, v) },
      { key: 'last_touch', label: 'Last touch', html: 1, fmt: (v, r) => touch(r.last_touch_type, v) },
      { key: 'touches', label: 'Touches', num: 1 },
      { key: 'lead_id', label: 'Lead', fmt: orDash }
    ], rows, true);
  }
};

/** The summary cards; `data-value` holds the exact number, for tests. */
function kpis(d) {
  const set = (id, value, text) => {
    const card = $(`[data-testid="kpi-${id}"]`);
    card.dataset.value = String(value);
    $('.value', card).textContent = text;
  };
  const visitors = sum(d.countries, 'visitors');
  const pageViews = sum(d.traffic_daily, 'page_views');
  const sessions = sum(d.channels, 'sessions');
  const purchases = sum(d.attribution_touches, 'first_touch_purchases');
  set('visitors', visitors, int(visitors));
  set('page-views', pageViews, int(pageViews));
  set('sessions', sessions, int(sessions));
  set('purchases', purchases, int(purchases));
  // First touch: each purchase counted once.
  const revenue = Math.round(sum(d.attribution_touches, 'first_touch_revenue') * 100) / 100;
  set('revenue', revenue, money(revenue));
  const decisions = sum(d.consent_rates, 'decisions'), accepted = sum(d.consent_rates, 'accepted');
  set('consent', decisions ? accepted / decisions : 0, decisions ? pct(accepted / decisions) : '–');
}

// The queries each panel draws from.
const NEEDS = {
  traffic: ['traffic_daily'], pages: ['top_pages'], channels: ['channels'], campaigns: ['utm_campaigns'], revenue: ['attribution_touches'],
  countries: ['countries'], devices: ['devices'], scroll: ['scroll_depth'], video: ['video_engagement'], forms: ['form_conversion'],
  consent: ['consent_rates'], email: ['email_opens_clicks', 'email_funnel', 'email_click_to_purchase'], purchases: ['attribution_purchases']
};

/** Fetches every query for the picked site and range, then redraws every panel and the cards.
 * A failed query fails only the panels that need it. */
async function loadAll() {
  const range = computeRange();
  if (!range || range.from >= range.to) {
    status('Pick a start and an end date.', true);
    return;
  }
  state.from = range.from;
  state.to = range.to;
  savePrefs();
  $('#range-label').textContent = rangeLabel();
  const load = ++state.load;
  const dash = $('#dash');
  dash.dataset.state = 'loading';
  for (const name of Object.keys(RENDER)) setState(name, 'loading');
  status('Loading…');
  const params = queryString({ site: state.site, from: state.from, to: state.to });
  // Per query: its rows, or the error that stopped it.
  const results = {};
  await Promise.all(QUERIES.map((query) => api(`${query}?${params}`).then(
    (body) => { results[query] = body.rows; },
    (error) => { results[query] = error; }
  )));
  if (load !== state.load) return; // a newer load has started: its answers win
  if (QUERIES.some((q) => results[q] instanceof ApiError && results[q].status === 401)) return signOut(KEY_REJECTED);
  // One currency in the range: money is shown in it; several or none: plain amounts.
  const purchases = Array.isArray(results.attribution_purchases) ? results.attribution_purchases : [];
  const currencies = [...new Set(purchases.map((p) => p.currency).filter(Boolean))];
  state.currency = currencies.length === 1 ? currencies[0] : '';
  let failed = 0;
  for (const name of Object.keys(RENDER)) {
    clearPanel(name);
    const missing = NEEDS[name].filter((q) => !Array.isArray(results[q]));
    if (missing.length) {
      failed++;
      const error = results[missing[0]];
      setState(name, 'error', `Could not load ${missing[0]}: ${error?.message ? error.message : error}`);
      continue;
    }
    try {
      setState(name, 'ready');
      RENDER[name](results);
    } catch (e) {
      failed++;
      setState(name, 'error', `Could not draw this panel: ${e.message}`);
    }
  }
  // The cards count what loaded; a failed query counts as no rows.
  const rowsOrNone = {};
  for (const q of QUERIES) rowsOrNone[q] = Array.isArray(results[q]) ? results[q] : [];
  kpis(rowsOrNone);
  dash.dataset.state = failed ? 'partial' : 'ready';
  dash.dataset.loadedAt = String(Date.now());
  status(failed ? `${failed} panel(s) failed to load` : `Updated ${new Date().toLocaleTimeString('en-GB')}`, failed > 0);
}

// ---- live view --------------------------------------------------------------------

/** Polls the last events every LIVE_MS while signed in, not paused and the tab is visible. */
async function pollLive() {
  clearTimeout(state.live.timer);
  if (!state.key || !state.site || state.live.paused) return;
  if (document.hidden) {
    state.live.timer = setTimeout(pollLive, LIVE_MS);
    return;
  }
  const site = state.site;
  let answer; // stays undefined when the request failed
  try {
    // Without `since` the collector answers the last 24 hours: no dependence on this machine's clock.
    answer = await api(`live?${queryString({ site })}`);
  } catch (error) {
    if (error.status === 401) signOut(KEY_REJECTED);
    else $('#live-note').textContent = `Live view unavailable: ${error.message}`;
  }
  // An answer for a site no longer picked is dropped.
  if (answer !== undefined && site === state.site) renderLive(answer.rows);
  state.live.timer = setTimeout(pollLive, LIVE_MS);
}
function renderLive(rows) {
  const p = panel('live');
  const body = $('.live-table tbody', p);
  // Rows not in the previous poll are highlighted (none on the first poll).
  const seen = state.live.seen, next = {};
  let html = '';
  for (const r of rows) {
    next[r.id] = 1;
    const fresh = seen && !seen[r.id];
    const time = new Date(num(r.ts));
    html += `<tr data-testid="live-row" data-event-id="${esc(r.id)}" data-type="${esc(r.type)}"${fresh ? ' class="fresh"' : ''}>` +
      `<td data-col="ts" data-value="${esc(r.ts)}">${esc(time.toLocaleTimeString('en-GB'))}</td>` +
      `<td data-col="type"><span class="tag t-${esc(r.type)}">${esc(r.type)}</span>${num(r.bot) ? ' <span class="tag">bot</span>' : ''}</td>` +
      `<td data-col="path" title="${esc(r.path)}">${esc(r.path)}</td>` +
      `<td data-col="detail" title="${esc(r.detail)}">${esc(r.detail || '')}</td>` +
      `<td data-col="channel">${esc(r.channel)}</td>` +
      `<td data-col="country">${esc(r.country || '–')}</td>` +
      `<td data-col="browser">${esc(r.browser)}${r.os ? ` · ${esc(r.os)}` : ''}</td>` +
      `<td data-col="device">${esc(r.device)}</td>` +
      `<td data-col="visitor"><code>${esc(r.visitor)}</code></td></tr>`;
  }
  body.innerHTML = html;
  state.live.seen = next;
  $('[data-testid=live-empty]', p).hidden = rows.length > 0;
  p.dataset.rows = String(rows.length);
  p.dataset.state = 'ready';
  p.dataset.polledAt = String(Date.now());
  $('#live-note').textContent = 'the last 50 events of the past 24 h, refreshed every 2 s';
}

// ---- shell: sign-in, controls, preferences -----------------------------------------

function status(text, bad) {
  const line = $('#status');
  line.textContent = text;
  line.classList.toggle('error', !!bad);
}
/** Keeps site and range for this tab (sessionStorage) and in the URL's hash (to share or bookmark). */
function savePrefs() {
  const prefs = { site: state.site, range: state.range };
  if (state.range === 'custom') {
    prefs.from = $('#from').value;
    prefs.to = $('#to').value;
  }
  try {
    sessionStorage.setItem(PREF_STORE, JSON.stringify(prefs));
  } catch {
    // storage off: the hash still holds them
  }
  history.replaceState(null, '', `#${queryString(prefs)}`);
}
/** The saved preferences, the URL's hash winning key by key. */
function readPrefs() {
  let prefs = {};
  try {
    prefs = JSON.parse(sessionStorage.getItem(PREF_STORE) || '{}') || {};
  } catch {
    // storage off or garbled: no saved preferences
  }
  new URLSearchParams(location.hash.slice(1)).forEach((value, key) => {
    prefs[key] = value;
  });
  return prefs;
}
function setRange(range) {
  state.range = range;
  for (const b of $$('#ranges button')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
  $('#custom').hidden = range !== 'custom';
}
/** Forgets the key and shows the sign-in form, with `message` when there is one. */
function signOut(message) {
  state.key = '';
  clearTimeout(state.live.timer);
  try {
    sessionStorage.removeItem(KEY_STORE);
  } catch {
    // storage off: nothing was kept
  }
  $('#dash').hidden = true;
  $('#controls').hidden = true;
  $('#foot').hidden = true;
  $('#login').hidden = false;
  const err = $('#login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('#key').value = '';
  $('#key').focus();
}
/** Checks the key by listing the sites, then shows the dashboard as last left in this tab. */
async function start() {
  let answer;
  try {
    answer = await api('sites');
  } catch (error) {
    signOut(error.status === 401 ? KEY_REJECTED : `Cannot reach the collector: ${error.message}`);
    return;
  }
  try {
    sessionStorage.setItem(KEY_STORE, state.key);
  } catch {
    // storage off: the key lasts as long as the page
  }
  const { sites } = answer;
  const prefs = readPrefs();
  const select = $('#site');
  select.textContent = '';
  for (const site of sites) {
    const option = document.createElement('option');
    option.value = option.textContent = site;
    select.appendChild(option);
  }
  if (!sites.length) status('No sites are configured on this collector.', true);
  state.site = sites.includes(prefs.site) ? prefs.site : sites[0] || '';
  select.value = state.site;
  const now = new Date();
  $('#to').value = prefs.to || dateInput(now);
  $('#from').value = prefs.from || dateInput(new Date(now.getTime() - 6 * DAY * 1000));
  setRange(['24h', '7d', '30d', 'custom'].includes(prefs.range) ? prefs.range : '7d');
  $('#login').hidden = true;
  $('#controls').hidden = false;
  $('#dash').hidden = false;
  $('#foot').hidden = false;
  state.live.seen = null;
  pollLive();
  return loadAll();
}

document.addEventListener('DOMContentLoaded', () => {
  if (window.Chart) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = MUTED_COLOR;
    Chart.defaults.plugins.tooltip.padding = 10;
    // Tests (WebDriver) and visitors who ask for it get charts drawn at once.
    if (navigator.webdriver || matchMedia('(prefers-reduced-motion: reduce)').matches) Chart.defaults.animation = false;
  }
  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = $('#key').value.trim();
    if (state.key) start();
  });
  $('#logout').addEventListener('click', () => signOut(''));
  $('#site').addEventListener('change', (e) => {
    state.site = e.target.value;
    state.live.seen = null;
    pollLive();
    loadAll();
  });
  for (const b of $$('#ranges button')) {
    b.addEventListener('click', () => {
      setRange(b.dataset.range);
      // Custom waits for its dates and Apply.
      if (b.dataset.range !== 'custom') loadAll();
    });
  }
  $('#apply-custom').addEventListener('click', loadAll);
  $('#refresh').addEventListener('click', loadAll);
  const liveToggle = $('#live-toggle');
  liveToggle.addEventListener('click', () => {
    state.live.paused = !state.live.paused;
    liveToggle.textContent = state.live.paused ? 'Resume' : 'Pause';
    panel('live').classList.toggle('paused', state.live.paused);
    pollLive();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) pollLive();
  });
  try {
    state.key = sessionStorage.getItem(KEY_STORE) || '';
  } catch {
    state.key = '';
  }
  if (state.key) start();
  else signOut('');
});
