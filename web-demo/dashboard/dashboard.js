/* ktra dashboard. Plain JS; charts by Chart.js (vendor/, MIT).
 *
 * Every panel is one or more queries of the ktra query library, fetched from
 * `/v1/stats/{query}?site=S&from=UNIX&to=UNIX` with the admin key (kept in
 * sessionStorage). Each panel also renders the numbers it charts as a table
 * (`data-testid="table-<panel>"`, cells with `data-col` and `data-value`),
 * and sets `data-state` (loading, ready, empty, error) so that tests and
 * people can read exactly what is drawn. */
(function () {
  'use strict';

  var KEY_STORE = 'ktra_admin_key';
  var PREF_STORE = 'ktra_dashboard';
  var BASE = location.pathname.replace(/\/dashboard(\/.*)?$/, '');
  var API = BASE + '/v1/stats/';
  var LIVE_MS = 2000;
  var DAY = 86400;
  var COLORS = ['#4f46e5', '#0d9488', '#f59e0b', '#e11d48', '#0284c7', '#7c3aed', '#65a30d', '#64748b', '#db2777', '#ea580c'];
  var QUERIES = ['traffic_daily', 'top_pages', 'channels', 'utm_campaigns', 'countries', 'devices', 'scroll_depth',
    'video_engagement', 'form_conversion', 'consent_rates', 'email_funnel', 'email_opens_clicks',
    'email_click_to_purchase', 'attribution_touches', 'attribution_purchases'];

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var state = { key: '', site: '', range: '7d', from: 0, to: 0, charts: {}, load: 0, currency: '', live: { timer: 0, paused: false, seen: null } };
  var nf = new Intl.NumberFormat('en');
  var nf1 = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
  var regionNames = (function () { try { return new Intl.DisplayNames(['en'], { type: 'region' }); } catch (e) { return null; } })();

  // ---- HTTP ----------------------------------------------------------------

  function ApiError(status, message) { this.status = status; this.message = message; }
  function api(path) {
    return fetch(API + path, { headers: { Authorization: 'Bearer ' + state.key }, cache: 'no-store' }).then(function (r) {
      return r.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
        if (!r.ok) throw new ApiError(r.status, (body && body.message) || text || r.statusText);
        return body;
      });
    });
  }
  function qs(o) {
    return Object.keys(o).map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(o[k]); }).join('&');
  }

  // ---- formatting ------------------------------------------------------------

  function num(v) { var n = Number(v); return isFinite(n) ? n : 0; }
  function int(v) { return nf.format(num(v)); }
  function money(v) {
    if (state.currency) {
      try { return new Intl.NumberFormat('en', { style: 'currency', currency: state.currency }).format(num(v)); } catch (e) { /* unknown code */ }
    }
    return new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(num(v));
  }
  function pct(v) { return nf1.format(num(v) * 100) + ' %'; }
  function secs(ms) { return num(ms) ? nf1.format(num(ms) / 1000) + ' s' : '–'; }
  function dur(s) {
    s = num(s);
    if (s < 90) return nf1.format(s) + ' s';
    if (s < 5400) return nf1.format(s / 60) + ' min';
    return nf1.format(s / 3600) + ' h';
  }
  /** '2026-11-05' → '5 Nov' (labels only; tables keep the day as the query answers it). */
  function dayLabel(day) {
    var p = String(day).split('-').map(Number);
    if (p.length !== 3) return day;
    return new Date(Date.UTC(p[0], p[1] - 1, p[2])).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
  }
  function country(code) {
    if (!code) return 'Unknown';
    var name = regionNames ? regionNames.of(code) : '';
    return name && name !== code ? name + ' (' + code + ')' : code;
  }
  function orNone(s, none) { return s === '' || s == null ? (none || '(none)') : s; }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; });
  }
  function sum(rows, col) { return rows.reduce(function (s, r) { return s + num(r[col]); }, 0); }
  function groupSum(rows, keyCol, valCol) {
    var m = {};
    rows.forEach(function (r) { var k = orNone(r[keyCol], 'Unknown'); m[k] = (m[k] || 0) + num(r[valCol]); });
    return Object.keys(m).map(function (k) { return { key: k, value: m[k] }; }).sort(function (a, b) { return b.value - a.value || (a.key < b.key ? -1 : 1); });
  }

  // ---- range -----------------------------------------------------------------

  function dateInput(d) {
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  }
  function computeRange() {
    var now = Math.ceil(Date.now() / 60000) * 60;
    var spans = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY };
    if (state.range !== 'custom') return { from: now - spans[state.range], to: now };
    var f = $('#from').value, t = $('#to').value;
    if (!f || !t) return null;
    var fp = f.split('-').map(Number), tp = t.split('-').map(Number);
    var from = new Date(fp[0], fp[1] - 1, fp[2]).getTime() / 1000;
    var to = new Date(tp[0], tp[1] - 1, tp[2] + 1).getTime() / 1000;
    return { from: from, to: to };
  }
  function rangeLabel() {
    var o = { dateStyle: 'medium', timeStyle: 'short' };
    var f = new Date(state.from * 1000), t = new Date(state.to * 1000);
    return 'Site ' + state.site + ' · ' + f.toLocaleString('en-GB', o) + ' → ' + t.toLocaleString('en-GB', o);
  }
  /** Every UTC day of the range, as ClickHouse prints Date (YYYY-MM-DD). */
  function days() {
    var out = [];
    for (var t = Math.floor(state.from / DAY) * DAY; t < state.to; t += DAY) out.push(new Date(t * 1000).toISOString().slice(0, 10));
    return out;
  }

  // ---- panels: chart + numbers ----------------------------------------------------

  function panel(name) { return $('[data-panel="' + name + '"]'); }
  function setState(name, s, msg) {
    var p = panel(name);
    p.dataset.state = s;
    p.classList.toggle('loading', s === 'loading');
    var err = $('.err', p);
    if (s === 'error') {
      if (!err) { err = document.createElement('p'); err.className = 'err'; p.appendChild(err); }
      err.textContent = msg;
      err.setAttribute('data-testid', 'error-' + name);
    } else if (err) err.remove();
  }
  function clearPanel(name) {
    var p = panel(name);
    $$('.numbers-box, .empty:not([data-testid=live-empty])', p).forEach(function (e) { e.remove(); });
    (state.charts[name] || []).forEach(function (c) { c.destroy(); });
    state.charts[name] = [];
  }
  function showEmpty(name, text) {
    var p = panel(name);
    var c = $('.chart', p);
    if (c) c.hidden = true;
    var e = document.createElement('p');
    e.className = 'empty';
    e.setAttribute('data-testid', 'empty-' + name);
    e.textContent = text || 'No data in this range.';
    p.appendChild(e);
    p.dataset.state = 'empty';
    p.dataset.rows = '0';
  }
  function chart(name, index, config) {
    var p = panel(name);
    var box = $('.chart', p);
    if (!box) return;
    box.hidden = false;
    var canvas = $$('canvas', box)[index];
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false }, config.options || {});
    state.charts[name].push(new Chart(canvas, config));
  }
  /** columns: [{key, label, num, fmt}] — renders the rows as a table of what is charted. */
  function numbers(name, columns, rows, open) {
    var p = panel(name);
    var details = document.createElement('details');
    details.className = 'numbers-box';
    if (open) details.open = true;
    var html = '<summary>Numbers (' + rows.length + (rows.length === 1 ? ' row' : ' rows') + ')</summary><div class="table-wrap"><table class="numbers" data-testid="table-' + name + '"><thead><tr>';
    columns.forEach(function (c) { html += '<th' + (c.num ? ' class="num"' : '') + ' data-col="' + esc(c.key) + '">' + esc(c.label) + '</th>'; });
    html += '</tr></thead><tbody>';
    rows.forEach(function (r) {
      html += '<tr data-testid="row-' + name + '">';
      columns.forEach(function (c) {
        var raw = c.value ? c.value(r) : r[c.key];
        var shown = c.fmt ? c.fmt(raw, r) : (c.num ? int(raw) : orNone(raw));
        html += '<td' + (c.num ? ' class="num"' : '') + ' data-col="' + esc(c.key) + '" data-value="' + esc(raw == null ? '' : raw) + '" title="' + esc(shown) + '">' + (c.html ? shown : esc(shown)) + '</td>';
      });
      html += '</tr>';
    });
    details.innerHTML = html + '</tbody></table></div>';
    p.appendChild(details);
    p.dataset.rows = String(rows.length);
  }

  var axisInt = { beginAtZero: true, ticks: { precision: 0 }, grid: { color: '#eef0f4' } };
  var noGrid = { grid: { display: false } };
  function legendBottom() { return { position: 'bottom', labels: { boxWidth: 12, boxHeight: 12, usePointStyle: true } }; }
  function hbar(labels, datasets, opts) {
    return {
      type: 'bar',
      data: { labels: labels, datasets: datasets },
      options: Object.assign({ indexAxis: 'y', scales: { x: axisInt, y: noGrid }, plugins: { legend: { display: datasets.length > 1, position: 'bottom' } } }, opts || {})
    };
  }
  function doughnut(title, items) {
    return {
      type: 'doughnut',
      data: { labels: items.map(function (i) { return i.key; }), datasets: [{ data: items.map(function (i) { return i.value; }), backgroundColor: COLORS, borderWidth: 2, borderColor: '#fff' }] },
      options: { cutout: '62%', plugins: { legend: { position: 'right', labels: { boxWidth: 12, boxHeight: 12 } }, title: { display: !!title, text: title, align: 'start', color: '#5f6877' } } }
    };
  }
  function top(items, n) {
    if (items.length <= n) return items;
    var rest = items.slice(n - 1).reduce(function (s, i) { return s + i.value; }, 0);
    return items.slice(0, n - 1).concat([{ key: 'Other', value: rest }]);
  }

  var RENDER = {
    traffic: function (d) {
      var rows = d.traffic_daily;
      if (!rows.length) return showEmpty('traffic');
      var by = {};
      rows.forEach(function (r) { by[r.day] = r; });
      var labels = days();
      rows.forEach(function (r) { if (labels.indexOf(r.day) < 0) labels.push(r.day); });
      labels.sort();
      var col = function (c) { return labels.map(function (day) { return by[day] ? num(by[day][c]) : 0; }); };
      chart('traffic', 0, {
        data: {
          labels: labels.map(dayLabel),
          datasets: [
            { type: 'bar', label: 'Page views', data: col('page_views'), backgroundColor: 'rgba(79,70,229,.18)', borderColor: 'rgba(79,70,229,.5)', borderWidth: 1, borderRadius: 4, order: 3 },
            { type: 'line', label: 'Visitors', data: col('visitors'), borderColor: COLORS[0], backgroundColor: COLORS[0], tension: .3, pointRadius: 3, order: 1 },
            { type: 'line', label: 'Sessions', data: col('sessions'), borderColor: COLORS[1], backgroundColor: COLORS[1], tension: .3, pointRadius: 3, borderDash: [5, 4], order: 2 }
          ]
        },
        options: { interaction: { mode: 'index', intersect: false }, scales: { y: axisInt, x: noGrid }, plugins: { legend: legendBottom() } }
      });
      numbers('traffic', [{ key: 'day', label: 'Day' }, { key: 'visitors', label: 'Visitors', num: 1 }, { key: 'sessions', label: 'Sessions', num: 1 }, { key: 'page_views', label: 'Page views', num: 1 }], rows);
    },
    pages: function (d) {
      var rows = d.top_pages;
      if (!rows.length) return showEmpty('pages');
      var t = rows.slice(0, 8);
      chart('pages', 0, hbar(t.map(function (r) { return r.path; }), [
        { label: 'Page views', data: t.map(function (r) { return num(r.page_views); }), backgroundColor: COLORS[0], borderRadius: 4 },
        { label: 'Visitors', data: t.map(function (r) { return num(r.visitors); }), backgroundColor: 'rgba(13,148,136,.75)', borderRadius: 4 }
      ]));
      numbers('pages', [{ key: 'path', label: 'Page' }, { key: 'page_views', label: 'Views', num: 1 }, { key: 'visitors', label: 'Visitors', num: 1 },
        { key: 'avg_engaged_ms', label: 'Avg. engaged', num: 1, fmt: secs }], rows, true);
    },
    channels: function (d) {
      var rows = d.channels;
      if (!rows.length) return showEmpty('channels');
      chart('channels', 0, doughnut('', top(groupSum(rows, 'channel', 'sessions'), 7)));
      numbers('channels', [{ key: 'channel', label: 'Channel' }, { key: 'referrer_host', label: 'Referrer', fmt: function (v) { return orNone(v, '—'); } },
        { key: 'sessions', label: 'Sessions', num: 1 }, { key: 'purchases', label: 'Purchases', num: 1 }, { key: 'revenue', label: 'Revenue', num: 1, fmt: money }], rows, true);
    },
    campaigns: function (d) {
      var rows = d.utm_campaigns;
      if (!rows.length) return showEmpty('campaigns', 'No UTM-tagged sessions in this range.');
      var t = rows.slice(0, 8);
      var label = function (r) { return orNone(r.utm_campaign) + ' (' + r.utm_source + (r.utm_medium ? ' / ' + r.utm_medium : '') + ')'; };
      chart('campaigns', 0, hbar(t.map(label), [
        { label: 'Sessions', data: t.map(function (r) { return num(r.sessions); }), backgroundColor: COLORS[0], borderRadius: 4 },
        { label: 'Form submits', data: t.map(function (r) { return num(r.form_submits); }), backgroundColor: COLORS[2], borderRadius: 4 },
        { label: 'Purchases', data: t.map(function (r) { return num(r.purchases); }), backgroundColor: COLORS[1], borderRadius: 4 }
      ]));
      numbers('campaigns', [{ key: 'utm_source', label: 'Source' }, { key: 'utm_medium', label: 'Medium' }, { key: 'utm_campaign', label: 'Campaign' },
        { key: 'sessions', label: 'Sessions', num: 1 }, { key: 'form_submits', label: 'Forms', num: 1 }, { key: 'purchases', label: 'Purchases', num: 1 },
        { key: 'revenue', label: 'Revenue', num: 1, fmt: money }], rows, true);
    },
    revenue: function (d) {
      var rows = d.attribution_touches;
      if (!rows.length) return showEmpty('revenue', 'No purchases in this range.');
      var label = function (r) { return r.touch_type === 'none' ? 'No touch' : (r.touch_type === 'email' ? '✉ ' : '# ') + r.touch; };
      chart('revenue', 0, hbar(rows.slice(0, 8).map(label), [
        { label: 'First-touch revenue', data: rows.slice(0, 8).map(function (r) { return num(r.first_touch_revenue); }), backgroundColor: COLORS[5], borderRadius: 4 },
        { label: 'Last-touch revenue', data: rows.slice(0, 8).map(function (r) { return num(r.last_touch_revenue); }), backgroundColor: COLORS[1], borderRadius: 4 }
      ], { scales: { x: { beginAtZero: true, grid: { color: '#eef0f4' } }, y: noGrid } }));
      var tag = function (v) { return '<span class="tag ' + esc(v) + '">' + esc(v) + '</span>'; };
      numbers('revenue', [{ key: 'touch_type', label: 'Type', fmt: tag, html: 1 }, { key: 'touch', label: 'Message / campaign', fmt: function (v) { return orNone(v, '—'); } },
        { key: 'first_touch_purchases', label: 'First: buys', num: 1 }, { key: 'first_touch_revenue', label: 'First: revenue', num: 1, fmt: money },
        { key: 'last_touch_purchases', label: 'Last: buys', num: 1 }, { key: 'last_touch_revenue', label: 'Last: revenue', num: 1, fmt: money }], rows, true);
    },
    countries: function (d) {
      var rows = d.countries;
      if (!rows.length) return showEmpty('countries');
      var t = rows.slice(0, 10);
      chart('countries', 0, hbar(t.map(function (r) { return country(r.country); }), [
        { label: 'Visitors', data: t.map(function (r) { return num(r.visitors); }), backgroundColor: COLORS[4], borderRadius: 4 }
      ]));
      numbers('countries', [{ key: 'country', label: 'Country', fmt: function (v) { return country(v); } }, { key: 'visitors', label: 'Visitors', num: 1 }], rows);
    },
    devices: function (d) {
      var rows = d.devices;
      if (!rows.length) return showEmpty('devices');
      chart('devices', 0, doughnut('Browser', top(groupSum(rows, 'browser', 'visitors'), 6)));
      chart('devices', 1, doughnut('Device', top(groupSum(rows, 'device', 'visitors'), 6)));
      numbers('devices', [{ key: 'browser', label: 'Browser' }, { key: 'os', label: 'OS' }, { key: 'device', label: 'Device' }, { key: 'visitors', label: 'Visitors', num: 1 }], rows);
    },
    scroll: function (d) {
      var rows = d.scroll_depth;
      if (!rows.length) return showEmpty('scroll');
      chart('scroll', 0, {
        type: 'bar',
        data: { labels: rows.map(function (r) { return r.depth + ' %'; }), datasets: [{ label: 'Page views reaching', data: rows.map(function (r) { return num(r.page_views_reaching); }),
          backgroundColor: rows.map(function (_, i) { return 'rgba(79,70,229,' + (1 - i * 0.15) + ')'; }), borderRadius: 6 }] },
        options: { scales: { y: axisInt, x: noGrid }, plugins: { legend: { display: false } } }
      });
      numbers('scroll', [{ key: 'depth', label: 'Depth (%)', num: 1 }, { key: 'page_views_reaching', label: 'Page views reaching', num: 1 }], rows);
    },
    video: function (d) {
      var rows = d.video_engagement;
      if (!rows.length) return showEmpty('video', 'No video played in this range.');
      var steps = [['starts', 'Start'], ['p25', '25 %'], ['p50', '50 %'], ['p75', '75 %'], ['completes', 'Complete']];
      chart('video', 0, {
        type: 'bar',
        data: { labels: steps.map(function (s) { return s[1]; }), datasets: rows.slice(0, 4).map(function (r, i) {
          return { label: r.video_id, data: steps.map(function (s) { return num(r[s[0]]); }), backgroundColor: COLORS[(i + 3) % COLORS.length], borderRadius: 6 };
        }) },
        options: { scales: { y: axisInt, x: noGrid }, plugins: { legend: legendBottom() } }
      });
      numbers('video', [{ key: 'video_id', label: 'Video' }, { key: 'starts', label: 'Starts', num: 1 }, { key: 'p25', label: '25 %', num: 1 }, { key: 'p50', label: '50 %', num: 1 },
        { key: 'p75', label: '75 %', num: 1 }, { key: 'completes', label: 'Completes', num: 1 },
        { key: 'completion', label: 'Completion', num: 1, value: function (r) { return num(r.starts) ? num(r.completes) / num(r.starts) : 0; }, fmt: pct }], rows);
    },
    forms: function (d) {
      var rows = d.form_conversion;
      if (!rows.length) return showEmpty('forms', 'No form submitted in this range.');
      chart('forms', 0, hbar(rows.map(function (r) { return orNone(r.form_id, '(unnamed form)'); }), [
        { label: 'Conversion (% of sessions)', data: rows.map(function (r) { return Math.round(num(r.conversion) * 1000) / 10; }), backgroundColor: COLORS[2], borderRadius: 4 }
      ], { scales: { x: { beginAtZero: true, suggestedMax: 10, ticks: { callback: function (v) { return v + ' %'; } }, grid: { color: '#eef0f4' } }, y: noGrid } }));
      numbers('forms', [{ key: 'form_id', label: 'Form' }, { key: 'submits', label: 'Submits', num: 1 }, { key: 'sessions_submitting', label: 'Sessions submitting', num: 1 },
        { key: 'sessions_total', label: 'All sessions', num: 1 }, { key: 'conversion', label: 'Conversion', num: 1, fmt: pct }], rows, true);
    },
    consent: function (d) {
      var rows = d.consent_rates;
      if (!rows.length) return showEmpty('consent', 'No consent decisions in this range.');
      var by = {};
      rows.forEach(function (r) { by[r.day] = r; });
      var labels = days();
      rows.forEach(function (r) { if (labels.indexOf(r.day) < 0) labels.push(r.day); });
      labels.sort();
      var col = function (c) { return labels.map(function (day) { return by[day] ? num(by[day][c]) : 0; }); };
      var ds = [['accepted', 'Accepted all', '#16a34a'], ['customized', 'Customized', '#f59e0b'], ['rejected', 'Rejected all', '#64748b'], ['withdrawn', 'Withdrawn', '#e11d48']];
      chart('consent', 0, {
        type: 'bar',
        data: { labels: labels.map(dayLabel), datasets: ds.map(function (s) { return { label: s[1], data: col(s[0]), backgroundColor: s[2], stack: 'c', borderRadius: 2 }; }) },
        options: { interaction: { mode: 'index', intersect: false }, scales: { x: Object.assign({ stacked: true }, noGrid), y: Object.assign({ stacked: true }, axisInt) }, plugins: { legend: legendBottom() } }
      });
      numbers('consent', [{ key: 'day', label: 'Day' }, { key: 'decisions', label: 'Decisions', num: 1 }, { key: 'accepted', label: 'Accepted', num: 1 },
        { key: 'rejected', label: 'Rejected', num: 1 }, { key: 'customized', label: 'Customized', num: 1 }, { key: 'withdrawn', label: 'Withdrawn', num: 1 }], rows);
    },
    email: function (d) {
      var oc = {}, fu = {}, tp = {}, ids = [];
      var add = function (id) { if (ids.indexOf(id) < 0) ids.push(id); };
      d.email_opens_clicks.forEach(function (r) { oc[r.message_id] = r; add(r.message_id); });
      d.email_funnel.forEach(function (r) { fu[r.message_id] = r; add(r.message_id); });
      d.email_click_to_purchase.forEach(function (r) { tp[r.message_id] = r; });
      if (!ids.length) return showEmpty('email', 'No email opens or clicks in this range.');
      var rows = ids.map(function (id) {
        var o = oc[id] || {}, f = fu[id] || {}, t = tp[id] || {};
        return { message_id: id, opens: num(o.opens), leads_opened: num(o.leads_opened), proxy_opens: num(o.proxy_opens), clicks: num(f.clicks !== undefined ? f.clicks : o.clicks),
          bot_clicks: num(f.bot_clicks), click_to_open: num(o.click_to_open), sessions: num(f.sessions), form_submits: num(f.form_submits), purchases: num(f.purchases),
          revenue: num(f.revenue), median_seconds: t.median_seconds === undefined ? null : num(t.median_seconds) };
      });
      var steps = [['opens', 'Opens', COLORS[7]], ['clicks', 'Clicks', COLORS[0]], ['sessions', 'Sessions', COLORS[4]], ['purchases', 'Purchases', COLORS[1]]];
      chart('email', 0, {
        type: 'bar',
        data: { labels: rows.map(function (r) { return r.message_id; }), datasets: steps.map(function (s) {
          return { label: s[1], data: rows.map(function (r) { return r[s[0]]; }), backgroundColor: s[2], borderRadius: 4 };
        }) },
        options: { scales: { y: axisInt, x: noGrid }, plugins: { legend: legendBottom() } }
      });
      numbers('email', [{ key: 'message_id', label: 'Message' }, { key: 'opens', label: 'Opens', num: 1 }, { key: 'proxy_opens', label: 'Proxy opens', num: 1 },
        { key: 'clicks', label: 'Clicks', num: 1 }, { key: 'bot_clicks', label: 'Scanner clicks', num: 1 }, { key: 'click_to_open', label: 'Click-to-open', num: 1, fmt: pct },
        { key: 'sessions', label: 'Sessions', num: 1 }, { key: 'form_submits', label: 'Forms', num: 1 }, { key: 'purchases', label: 'Purchases', num: 1 },
        { key: 'revenue', label: 'Revenue', num: 1, fmt: money }, { key: 'median_seconds', label: 'Click → buy (median)', num: 1, fmt: function (v) { return v == null ? '–' : dur(v); } }], rows, true);
    },
    purchases: function (d) {
      var rows = d.attribution_purchases.slice().reverse();
      if (!rows.length) return showEmpty('purchases', 'No purchases in this range.');
      var touch = function (type, t) { return '<span class="tag ' + esc(type) + '">' + esc(type) + '</span> ' + esc(t || ''); };
      numbers('purchases', [{ key: 'purchased_at', label: 'Time' }, { key: 'order_id', label: 'Order' },
        { key: 'revenue', label: 'Value', num: 1, fmt: function (v, r) { try { return new Intl.NumberFormat('en', { style: 'currency', currency: r.currency || 'EUR' }).format(num(v)); } catch (e) { return money(v); } } },
        { key: 'first_touch', label: 'First touch', html: 1, fmt: function (v, r) { return touch(r.first_touch_type, v); } },
        { key: 'last_touch', label: 'Last touch', html: 1, fmt: function (v, r) { return touch(r.last_touch_type, v); } },
        { key: 'touches', label: 'Touches', num: 1 }, { key: 'lead_id', label: 'Lead', fmt: function (v) { return orNone(v, '—'); } }], rows, true);
    }
  };

  function kpis(d) {
    var set = function (id, value, text) {
      var k = $('[data-testid="kpi-' + id + '"]');
      k.dataset.value = String(value);
      $('.value', k).textContent = text;
    };
    set('visitors', sum(d.countries || [], 'visitors'), int(sum(d.countries || [], 'visitors')));
    set('page-views', sum(d.traffic_daily || [], 'page_views'), int(sum(d.traffic_daily || [], 'page_views')));
    set('sessions', sum(d.channels || [], 'sessions'), int(sum(d.channels || [], 'sessions')));
    set('purchases', sum(d.attribution_touches || [], 'first_touch_purchases'), int(sum(d.attribution_touches || [], 'first_touch_purchases')));
    var rev = Math.round(sum(d.attribution_touches || [], 'first_touch_revenue') * 100) / 100;
    set('revenue', rev, money(rev));
    var dec = sum(d.consent_rates || [], 'decisions'), acc = sum(d.consent_rates || [], 'accepted');
    set('consent', dec ? acc / dec : 0, dec ? pct(acc / dec) : '–');
  }

  var NEEDS = { traffic: ['traffic_daily'], pages: ['top_pages'], channels: ['channels'], campaigns: ['utm_campaigns'], revenue: ['attribution_touches'],
    countries: ['countries'], devices: ['devices'], scroll: ['scroll_depth'], video: ['video_engagement'], forms: ['form_conversion'],
    consent: ['consent_rates'], email: ['email_opens_clicks', 'email_funnel', 'email_click_to_purchase'], purchases: ['attribution_purchases'] };

  function loadAll() {
    var r = computeRange();
    if (!r || r.from >= r.to) { status('Pick a start and an end date.', true); return; }
    state.from = r.from; state.to = r.to;
    savePrefs();
    $('#range-label').textContent = rangeLabel();
    var id = ++state.load;
    var dash = $('#dash');
    dash.dataset.state = 'loading';
    Object.keys(RENDER).forEach(function (n) { setState(n, 'loading'); });
    status('Loading…');
    var params = qs({ site: state.site, from: state.from, to: state.to });
    var results = {};
    return Promise.all(QUERIES.map(function (q) {
      return api(q + '?' + params).then(function (b) { results[q] = b.rows; }, function (e) { results[q] = e; });
    })).then(function () {
      if (id !== state.load) return;
      var auth = QUERIES.map(function (q) { return results[q]; }).filter(function (v) { return v instanceof ApiError && v.status === 401; });
      if (auth.length) return signOut('The admin key was not accepted.');
      var purchases = Array.isArray(results.attribution_purchases) ? results.attribution_purchases : [];
      var cur = purchases.map(function (p) { return p.currency; }).filter(function (c, i, a) { return c && a.indexOf(c) === i; });
      state.currency = cur.length === 1 ? cur[0] : '';
      var failed = 0;
      Object.keys(RENDER).forEach(function (name) {
        clearPanel(name);
        var errs = NEEDS[name].filter(function (q) { return !Array.isArray(results[q]); });
        if (errs.length) {
          failed++;
          var e = results[errs[0]];
          return setState(name, 'error', 'Could not load ' + errs[0] + ': ' + (e && e.message ? e.message : e));
        }
        try {
          setState(name, 'ready');
          RENDER[name](results);
        } catch (e) {
          failed++;
          setState(name, 'error', 'Could not draw this panel: ' + e.message);
        }
      });
      var clean = {};
      QUERIES.forEach(function (q) { clean[q] = Array.isArray(results[q]) ? results[q] : []; });
      kpis(clean);
      dash.dataset.state = failed ? 'partial' : 'ready';
      dash.dataset.loadedAt = String(Date.now());
      status(failed ? failed + ' panel(s) failed to load' : 'Updated ' + new Date().toLocaleTimeString('en-GB'), failed > 0);
    });
  }

  // ---- live view --------------------------------------------------------------------

  function pollLive() {
    clearTimeout(state.live.timer);
    if (!state.key || !state.site || state.live.paused) return;
    if (document.hidden) { state.live.timer = setTimeout(pollLive, LIVE_MS); return; }
    var site = state.site;
    // Without `since` the collector answers the last 24 hours: no dependence on this machine's clock.
    api('live?' + qs({ site: site })).then(function (b) {
      if (site === state.site) renderLive(b.rows);
    }, function (e) {
      if (e.status === 401) return signOut('The admin key was not accepted.');
      $('#live-note').textContent = 'Live view unavailable: ' + e.message;
    }).then(function () {
      state.live.timer = setTimeout(pollLive, LIVE_MS);
    });
  }
  function renderLive(rows) {
    var p = panel('live');
    var body = $('.live-table tbody', p);
    var seen = state.live.seen, next = {};
    var html = '';
    rows.forEach(function (r) {
      next[r.id] = 1;
      var fresh = seen && !seen[r.id];
      var t = new Date(num(r.ts));
      html += '<tr data-testid="live-row" data-event-id="' + esc(r.id) + '" data-type="' + esc(r.type) + '"' + (fresh ? ' class="fresh"' : '') + '>' +
        '<td data-col="ts" data-value="' + esc(r.ts) + '">' + esc(t.toLocaleTimeString('en-GB')) + '</td>' +
        '<td data-col="type"><span class="tag t-' + esc(r.type) + '">' + esc(r.type) + '</span>' + (num(r.bot) ? ' <span class="tag">bot</span>' : '') + '</td>' +
        '<td data-col="path" title="' + esc(r.path) + '">' + esc(r.path) + '</td>' +
        '<td data-col="detail" title="' + esc(r.detail) + '">' + esc(r.detail || '') + '</td>' +
        '<td data-col="channel">' + esc(r.channel) + '</td>' +
        '<td data-col="country">' + esc(r.country || '–') + '</td>' +
        '<td data-col="browser">' + esc(r.browser) + (r.os ? ' · ' + esc(r.os) : '') + '</td>' +
        '<td data-col="device">' + esc(r.device) + '</td>' +
        '<td data-col="visitor"><code>' + esc(r.visitor) + '</code></td></tr>';
    });
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
    var s = $('#status');
    s.textContent = text;
    s.classList.toggle('error', !!bad);
  }
  function savePrefs() {
    var p = { site: state.site, range: state.range };
    if (state.range === 'custom') { p.from = $('#from').value; p.to = $('#to').value; }
    try { sessionStorage.setItem(PREF_STORE, JSON.stringify(p)); } catch (e) { /* ignore */ }
    history.replaceState(null, '', '#' + qs(p));
  }
  function readPrefs() {
    var p = {};
    try { p = JSON.parse(sessionStorage.getItem(PREF_STORE) || '{}') || {}; } catch (e) { /* ignore */ }
    new URLSearchParams(location.hash.slice(1)).forEach(function (v, k) { p[k] = v; });
    return p;
  }
  function setRange(r) {
    state.range = r;
    $$('#ranges button').forEach(function (b) { b.setAttribute('aria-pressed', String(b.dataset.range === r)); });
    $('#custom').hidden = r !== 'custom';
  }
  function signOut(message) {
    state.key = '';
    clearTimeout(state.live.timer);
    try { sessionStorage.removeItem(KEY_STORE); } catch (e) { /* ignore */ }
    $('#dash').hidden = true;
    $('#controls').hidden = true;
    $('#foot').hidden = true;
    $('#login').hidden = false;
    var err = $('#login-error');
    err.hidden = !message;
    err.textContent = message || '';
    $('#key').value = '';
    $('#key').focus();
  }
  function start() {
    return api('sites').then(function (b) {
      try { sessionStorage.setItem(KEY_STORE, state.key); } catch (e) { /* ignore */ }
      var prefs = readPrefs();
      var sel = $('#site');
      sel.textContent = '';
      b.sites.forEach(function (s) { var o = document.createElement('option'); o.value = o.textContent = s; sel.appendChild(o); });
      if (!b.sites.length) { status('No sites are configured on this collector.', true); }
      state.site = b.sites.indexOf(prefs.site) >= 0 ? prefs.site : (b.sites[0] || '');
      sel.value = state.site;
      var now = new Date();
      $('#to').value = prefs.to || dateInput(now);
      $('#from').value = prefs.from || dateInput(new Date(now.getTime() - 6 * DAY * 1000));
      setRange(['24h', '7d', '30d', 'custom'].indexOf(prefs.range) >= 0 ? prefs.range : '7d');
      $('#login').hidden = true;
      $('#controls').hidden = false;
      $('#dash').hidden = false;
      $('#foot').hidden = false;
      state.live.seen = null;
      pollLive();
      return loadAll();
    }, function (e) {
      signOut(e.status === 401 ? 'The admin key was not accepted.' : 'Cannot reach the collector: ' + e.message);
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    if (window.Chart) {
      Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      Chart.defaults.color = '#5f6877';
      Chart.defaults.plugins.tooltip.padding = 10;
      if (navigator.webdriver || matchMedia('(prefers-reduced-motion: reduce)').matches) Chart.defaults.animation = false;
    }
    $('#login-form').addEventListener('submit', function (e) {
      e.preventDefault();
      state.key = $('#key').value.trim();
      if (state.key) start();
    });
    $('#logout').addEventListener('click', function () { signOut(''); });
    $('#site').addEventListener('change', function (e) { state.site = e.target.value; state.live.seen = null; pollLive(); loadAll(); });
    $$('#ranges button').forEach(function (b) {
      b.addEventListener('click', function () {
        setRange(b.dataset.range);
        if (b.dataset.range !== 'custom') loadAll();
      });
    });
    $('#apply-custom').addEventListener('click', loadAll);
    $('#refresh').addEventListener('click', loadAll);
    $('#live-toggle').addEventListener('click', function () {
      state.live.paused = !state.live.paused;
      this.textContent = state.live.paused ? 'Resume' : 'Pause';
      panel('live').classList.toggle('paused', state.live.paused);
      pollLive();
    });
    document.addEventListener('visibilitychange', function () { if (!document.hidden) pollLive(); });
    try { state.key = sessionStorage.getItem(KEY_STORE) || ''; } catch (e) { state.key = ''; }
    if (state.key) start(); else signOut('');
  });
})();
