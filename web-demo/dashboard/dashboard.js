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

import { automationsQuery, renderAutomations, wireAutomations } from './automations.js';
import { KEY_STORE, PREF_STORE, BASE, API, LIVE_MS, DAY, COLORS, GRID_COLOR, MUTED_COLOR, KEY_REJECTED, QUERIES, $,
  $$, state, integerFormat, oneDecimalFormat, regionNames, num, int, money, pct, secs, duration, dayLabel, country,
  orNone, orDash, HTML_ESCAPES, esc, sum, groupSum, dateInput, computeRange, rangeLabel, days, perDay } from './common.js';
import { panel, setState, clearPanel, showEmpty, chart, numbers, axisInt, noGrid, legendBottom, hbar, doughnut, top,
  touchTag, RENDER, kpis, NEEDS } from './panels.js';
import { extraParams, filterParam, readFilters, renderFilters, wireRowFilters, addCsvButtons, renderDeltas, pollOnline,
  setDefinitions, loadExplore, wireExplore, reloadFunnel } from './explore.js';
import { rememberValues, wireFunnelEditor } from './funnel-editor.js';

const SHARE_REJECTED = 'This shared link has expired or was revoked. Ask the site owner for a new one.';

// ---- HTTP ----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET `{API}{path}` with the admin key; the JSON body (the text when `raw`), or an ApiError
 * with the collector's message. A panel's request waits for its turn ([`schedule`]). */
function api(path, raw) {
  const rank = raw ? null : panelRank(path.split('?')[0]);
  return rank == null ? fetchApi(path, raw) : schedule(rank, () => fetchApi(path, raw));
}

// ---- the order of a load's requests ------------------------------------------
// A load asks for some twenty answers, and the collector and ClickHouse share
// two cores: all at once, every panel waits for the sum of them. So at most
// SLOTS are in flight, and the panels higher on the page go first (the cards
// and the traffic chart, the funnel, the goals, then down the page): what a
// person looks at first is drawn first. Polls (live, online), the site list and
// CSV downloads go at once.
const SLOTS = 3;
const waiting = [];
let inFlight = 0;
let ranks = null;

/** The position on the page of the panel an endpoint feeds (the cards first); null: not a panel's. */
function panelRank(name) {
  if (!ranks) {
    ranks = { traffic: -1 };
    $$('[data-panel]').forEach((p, i) => {
      for (const q of (p.dataset.query || p.dataset.panel).split(' ')) if (!(q in ranks)) ranks[q] = i;
    });
    ranks.webhooks = ranks.automations;
    delete ranks.live;
  }
  return name in ranks ? ranks[name] : null;
}

/** Runs `run` when a slot is free and no request of this load ranked higher waits; requests of
 * an earlier load that have not started are dropped (their answers would be thrown away). */
function schedule(rank, run) {
  return new Promise((resolve, reject) => {
    waiting.push({ rank, load: state.load, run, resolve, reject });
    // After the current task: a load's requests are all waiting before the first goes.
    queueMicrotask(pump);
  });
}

function pump() {
  for (let i = waiting.length - 1; i >= 0; i--) if (waiting[i].load < state.load) waiting.splice(i, 1);
  waiting.sort((a, b) => a.rank - b.rank);
  while (inFlight < SLOTS && waiting.length) {
    const job = waiting.shift();
    inFlight++;
    job.run().then(job.resolve, job.reject).finally(() => {
      inFlight--;
      pump();
    });
  }
}

async function fetchApi(path, raw) {
  const response = await fetch(API + path, { headers: { Authorization: `Bearer ${state.key}` }, cache: 'no-store' });
  const text = await response.text();
  if (raw && response.ok) return text;
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

/** Fetches every query for the picked site and range, then redraws every panel and the cards.
 * A failed query fails only the panels that need it. */
/** Fetches and draws the automations panel (unless a newer load started). */
async function loadAutomations(load = state.load) {
  const answer = await api(automationsQuery()).catch((error) => error);
  if (load === state.load) renderAutomations(answer);
}

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
  renderFilters(loadAll);
  const base = { site: state.site, from: state.from, to: state.to };
  // Per query: its rows, or the error that stopped it.
  const results = {};
  // Each panel is drawn as soon as its own queries have answered (a fast panel
  // does not wait for a slow one); once all have, every panel is drawn again
  // below with the range's currency.
  const drawn = new Set();
  const drawReady = () => {
    if (load !== state.load) return;
    for (const name of Object.keys(RENDER)) {
      if (drawn.has(name) || !NEEDS[name].every((q) => Array.isArray(results[q]))) continue;
      drawn.add(name);
      clearPanel(name);
      try {
        setState(name, 'ready');
        RENDER[name](results);
      } catch {
        setState(name, 'loading');
      }
    }
  };
  const explore = loadExplore(api, load);
  await Promise.all([
    ...QUERIES.map((query) => api(`${query}?${queryString({ ...base, ...extraParams(query) })}`).then(
      (body) => { results[query] = body.rows; drawReady(); },
      (error) => { results[query] = error; }
    )),
    // Hourly or daily with the range's totals and the previous period's (the cards' deltas).
    api(`traffic?${queryString({ ...base, ...extraParams('traffic'), compare: 'previous' })}`).then(
      (body) => { results.traffic = body; },
      () => { results.traffic = null; }
    ),
    explore
  ]);
  if (load !== state.load) return; // a newer load has started: its answers win
  rememberValues(results);
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
  renderDeltas(results.traffic);
  // Deliveries are the operator's: a shared link does not see them.
  if (!state.share) await loadAutomations(load);
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
  if (state.share) prefs.share = state.share;
  if (filterParam()) prefs.filter = filterParam();
  if (state.funnel) prefs.funnel = state.funnel;
  if (state.breakdown) prefs.breakdown = state.breakdown;
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
  // A shared link that stopped working says so; the form stays for an operator.
  if (state.share && message === KEY_REJECTED) message = SHARE_REJECTED;
  state.share = '';
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
    // A share token stays in the link, never where the admin key is kept.
    if (!state.share) sessionStorage.setItem(KEY_STORE, state.key);
  } catch {
    // storage off: the key lasts as long as the page
  }
  document.body.classList.toggle('shared', !!state.share);
  $('#shared-note').hidden = !state.share;
  $('#logout').hidden = !!state.share;
  panel('automations').hidden = !!state.share;
  // Funnels are built and edited with the admin key only.
  $('#funnel-actions').hidden = !!state.share;
  const { sites } = answer;
  state.definitions = answer.definitions || {};
  const prefs = readPrefs();
  readFilters(prefs.filter);
  state.funnel = prefs.funnel || '';
  state.breakdown = ['channel', 'utm_campaign', 'message'].includes(prefs.breakdown) ? prefs.breakdown : '';
  $('#breakdown-select').value = state.breakdown;
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
  setDefinitions(state.definitions[state.site]);
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
  pollOnline(api);
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
  wireAutomations(() => loadAutomations());
  wireRowFilters(loadAll);
  wireExplore(api);
  // A funnel saved (or deleted) in the editor: the site's definitions again, then that funnel.
  wireFunnelEditor(async (name) => {
    const answer = await api('sites');
    state.definitions = answer.definitions || {};
    state.funnel = name;
    setDefinitions(state.definitions[state.site]);
    savePrefs();
    reloadFunnel(api);
  });
  addCsvButtons(api);
  $('#funnel-select').addEventListener('change', savePrefs);
  $('#breakdown-select').addEventListener('change', savePrefs);
  $('#site').addEventListener('change', (e) => {
    state.site = e.target.value;
    // Filters and funnels belong to a site.
    state.filters = {};
    setDefinitions((state.definitions || {})[state.site]);
    pollOnline(api);
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
  // A shared link (`#share=TOKEN`, from POST /v1/admin/shares) opens its site read-only.
  state.share = new URLSearchParams(location.hash.slice(1)).get('share') || '';
  try {
    state.key = state.share || sessionStorage.getItem(KEY_STORE) || '';
  } catch {
    state.key = state.share;
  }
  if (state.key) start();
  else signOut('');
});
