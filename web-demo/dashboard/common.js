/* ktra dashboard: what every part shares — constants, the page state,
 * formatting, and the date range. */

export const KEY_STORE = 'ktra_admin_key';
export const PREF_STORE = 'ktra_dashboard';
// The dashboard is served at {BASE}/dashboard: a collector behind a path
// prefix serves the API under the same prefix.
export const BASE = location.pathname.replace(/\/dashboard(\/.*)?$/, '');
export const API = `${BASE}/v1/stats/`;
export const LIVE_MS = 2000;
export const DAY = 86400; // seconds
export const COLORS = ['#4f46e5', '#0d9488', '#f59e0b', '#e11d48', '#0284c7', '#7c3aed', '#65a30d', '#64748b', '#db2777', '#ea580c'];
export const GRID_COLOR = '#eef0f4';
export const MUTED_COLOR = '#5f6877';
export const KEY_REJECTED = 'The admin key was not accepted.';
// Every library query the panels read, fetched once per load.
export const QUERIES = ['traffic_daily', 'top_pages', 'channels', 'utm_campaigns', 'countries', 'devices', 'scroll_depth',
  'video_engagement', 'form_conversion', 'consent_rates', 'email_funnel', 'email_opens_clicks',
  'email_click_to_purchase', 'attribution_touches', 'attribution_purchases'];

export const $ = (selector, root) => (root || document).querySelector(selector);
export const $$ = (selector, root) => [...(root || document).querySelectorAll(selector)];

export const state = {
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

export const integerFormat = new Intl.NumberFormat('en');
export const oneDecimalFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
export const regionNames = (() => {
  try {
    return new Intl.DisplayNames(['en'], { type: 'region' });
  } catch {
    return null; // an engine without DisplayNames: countries show as codes
  }
})();

// ---- formatting ------------------------------------------------------------

// ClickHouse's JSON writes 64-bit integers as strings: every number is read through num().
export const num = (v) => {
  const n = Number(v);
  return isFinite(n) ? n : 0;
};
export const int = (v) => integerFormat.format(num(v));
export const money = (v) => {
  if (state.currency) {
    try {
      return new Intl.NumberFormat('en', { style: 'currency', currency: state.currency }).format(num(v));
    } catch {
      // an unknown currency code: a plain amount below
    }
  }
  return new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(num(v));
};
export const pct = (fraction) => `${oneDecimalFormat.format(num(fraction) * 100)} %`;
export const secs = (ms) => (num(ms) ? `${oneDecimalFormat.format(num(ms) / 1000)} s` : '–');
export const duration = (seconds) => {
  const s = num(seconds);
  if (s < 90) return `${oneDecimalFormat.format(s)} s`;
  if (s < 5400) return `${oneDecimalFormat.format(s / 60)} min`;
  if (s < 2 * DAY) return `${oneDecimalFormat.format(s / 3600)} h`;
  return `${oneDecimalFormat.format(s / DAY)} d`;
};
/** '2026-11-05' → '5 Nov' (labels only; tables keep the day as the query answers it). */
export const dayLabel = (day) => {
  const parts = String(day).split('-').map(Number);
  if (parts.length !== 3) return day;
  const [y, m, d] = parts;
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
};
export const country = (code) => {
  if (!code) return 'Unknown';
  const name = regionNames ? regionNames.of(code) : '';
  return name && name !== code ? `${name} (${code})` : code;
};
export const orNone = (s, none) => (s === '' || s == null ? none || '(none)' : s);
export const orDash = (v) => orNone(v, '—');
export const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s) => String(s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
export const sum = (rows, col) => rows.reduce((total, row) => total + num(row[col]), 0);
/** Sums `valueCol` by `keyCol` (empty keys as 'Unknown'): [{key, value}], largest first, then by key. */
export const groupSum = (rows, keyCol, valueCol) => {
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
export const dateInput = (d) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

/** {from, to} in Unix seconds for the picked range; null when a custom date is missing. */
export function computeRange() {
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
export function rangeLabel() {
  const style = { dateStyle: 'medium', timeStyle: 'short' };
  const from = new Date(state.from * 1000), to = new Date(state.to * 1000);
  return `Site ${state.site} · ${from.toLocaleString('en-GB', style)} → ${to.toLocaleString('en-GB', style)}`;
}
/** Every UTC day of the range, as ClickHouse prints Date (YYYY-MM-DD). */
export function days() {
  const out = [];
  for (let t = Math.floor(state.from / DAY) * DAY; t < state.to; t += DAY) out.push(new Date(t * 1000).toISOString().slice(0, 10));
  return out;
}
/** Rows with a `day`, on every day of the range (and any day the rows add), sorted:
 * {labels: the days, column(c): c of each day's row, 0 for a day without one}. */
export function perDay(rows) {
  const byDay = {};
  for (const row of rows) byDay[row.day] = row;
  const labels = days();
  for (const row of rows) if (!labels.includes(row.day)) labels.push(row.day);
  labels.sort();
  const column = (col) => labels.map((day) => (byDay[day] ? num(byDay[day][col]) : 0));
  return { labels, column };
}
