/* ktra dashboard: the panels — each draws a chart and the table of the
 * numbers it charts (see dashboard.js). */

import { KEY_STORE, PREF_STORE, BASE, API, LIVE_MS, DAY, COLORS, GRID_COLOR, MUTED_COLOR, KEY_REJECTED, QUERIES, $,
  $$, state, integerFormat, oneDecimalFormat, regionNames, num, int, money, pct, secs, duration, dayLabel, country,
  orNone, orDash, HTML_ESCAPES, esc, sum, groupSum, dateInput, computeRange, rangeLabel, days, perDay } from './common.js';
import { markRows } from './explore.js';

// ---- panels: chart + numbers ----------------------------------------------------

export const panel = (name) => $(`[data-panel="${name}"]`);
export function setState(name, panelState, message) {
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
export function clearPanel(name) {
  const p = panel(name);
  // The live panel's own empty note stays: it is part of the page, not of a load.
  for (const e of $$('.numbers-box, .empty:not([data-testid=live-empty])', p)) e.remove();
  for (const c of state.charts[name] || []) c.destroy();
  state.charts[name] = [];
}
export function showEmpty(name, text) {
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
export function chart(name, index, config) {
  const box = $('.chart', panel(name));
  if (!box) return;
  box.hidden = false;
  const canvas = $$('canvas', box)[index];
  config.options = { responsive: true, maintainAspectRatio: false, ...config.options };
  state.charts[name].push(new Chart(canvas, config));
}
/** Renders the rows as a table of what is charted. columns: [{key, label, num, fmt(raw, row),
 * value(row) (raw value other than row[key]), html (fmt returns HTML)}]. */
export function numbers(name, columns, rows, open) {
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
  markRows(name, $('table', details), rows);
  p.appendChild(details);
  p.dataset.rows = String(rows.length);
}

// Chart.js option pieces shared by the panels.
export const axisInt = { beginAtZero: true, ticks: { precision: 0 }, grid: { color: GRID_COLOR } };
export const noGrid = { grid: { display: false } };
export const legendBottom = () => ({ position: 'bottom', labels: { boxWidth: 12, boxHeight: 12, usePointStyle: true } });
/** A horizontal bar chart; `options` replace the defaults key by key. */
export const hbar = (labels, datasets, options) => ({
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
export const doughnut = (title, items) => ({
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
export function top(items, n) {
  if (items.length <= n) return items;
  const rest = items.slice(n - 1).reduce((total, i) => total + i.value, 0);
  return [...items.slice(0, n - 1), { key: 'Other', value: rest }];
}
/** A touch as a coloured tag (email, utm, none) and its name. */
export const touchTag = (type) => `<span class="tag ${esc(type)}">${esc(type)}</span>`;

/** The traffic panel per hour (ranges up to two days). */
function trafficHourly(rows) {
  if (!rows.length) return showEmpty('traffic');
  const label = (h) => String(h).slice(5, 13).replace(' ', ' ') + 'h';
  $('header p', panel('traffic')).textContent = 'per hour (UTC)';
  chart('traffic', 0, {
    data: {
      labels: rows.map((r) => label(r.hour)),
      datasets: [
        { type: 'bar', label: 'Page views', data: rows.map((r) => num(r.page_views)), backgroundColor: 'rgba(79,70,229,.18)', borderColor: 'rgba(79,70,229,.5)', borderWidth: 1, borderRadius: 4, order: 3 },
        { type: 'line', label: 'Visitors', data: rows.map((r) => num(r.visitors)), borderColor: COLORS[0], backgroundColor: COLORS[0], tension: 0.3, pointRadius: 2, order: 1 },
        { type: 'line', label: 'Sessions', data: rows.map((r) => num(r.sessions)), borderColor: COLORS[1], backgroundColor: COLORS[1], tension: 0.3, pointRadius: 2, borderDash: [5, 4], order: 2 }
      ]
    },
    options: { interaction: { mode: 'index', intersect: false }, scales: { y: axisInt, x: noGrid }, plugins: { legend: legendBottom() } }
  });
  numbers('traffic', [
    { key: 'hour', label: 'Hour (UTC)' },
    { key: 'visitors', label: 'Visitors', num: 1 },
    { key: 'sessions', label: 'Sessions', num: 1 },
    { key: 'page_views', label: 'Page views', num: 1 }
  ], rows);
}

// One function per panel (the `data-panel` name): draws it from the query results `d`.
export const RENDER = {
  traffic(d) {
    // Ranges up to two days come per hour (`/v1/stats/traffic`), longer ones per day.
    if (d.traffic && d.traffic.resolution === 'hour') return trafficHourly(d.traffic.rows);
    $('header p', panel('traffic')).textContent = 'per day (UTC)';
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
export function kpis(d) {
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
export const NEEDS = {
  traffic: ['traffic_daily'], pages: ['top_pages'], channels: ['channels'], campaigns: ['utm_campaigns'], revenue: ['attribution_touches'],
  countries: ['countries'], devices: ['devices'], scroll: ['scroll_depth'], video: ['video_engagement'], forms: ['form_conversion'],
  consent: ['consent_rates'], email: ['email_opens_clicks', 'email_funnel', 'email_click_to_purchase'], purchases: ['attribution_purchases']
};
