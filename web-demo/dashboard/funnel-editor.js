/* ktra dashboard: building a funnel by clicks. "New funnel" (or "Edit" on a
 * funnel saved from here) opens a form in the funnel panel: a name, 2 to 8 steps
 * (a page visited, a form submitted, a purchase, a custom event or a video
 * milestone, each narrowed by an optional value), the window and the order.
 * Saving PUTs it to /v1/admin/funnels/{site}/{name} with the admin key, then the
 * funnel opens. Funnels of the config file are read-only here; a shared link
 * sees no editor. Suggestions for values come from the loaded panels (top
 * pages, forms). */

import { $, $$, BASE, esc, state } from './common.js';

/** What a step can be: its label, the event type it matches and the field its value narrows. */
const KINDS = [
  { id: 'page', label: 'Visited a page', event: '', field: 'path', placeholder: '/pricing*', required: true },
  { id: 'form', label: 'Submitted a form', event: 'form_submit', field: 'form_id', placeholder: 'any form' },
  { id: 'purchase', label: 'Purchased', event: 'purchase', field: 'product_id', placeholder: 'any product' },
  { id: 'custom', label: 'Custom event', event: 'custom', field: 'name', placeholder: 'event name', required: true },
  { id: 'video_start', label: 'Started a video', event: 'video_start', field: 'video_id', placeholder: 'any video' },
  { id: 'video_complete', label: 'Finished a video', event: 'video_complete', field: 'video_id', placeholder: 'any video' }
];
const WINDOWS = [['30m', '30 minutes'], ['1h', '1 hour'], ['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days']];
const MAX_STEPS = 8, MIN_STEPS = 2;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Suggestions for step values, from the panels last loaded. */
const seen = { path: [], form_id: [] };

/** Remembers the paths and form ids of the loaded panels (their queries' rows). */
export function rememberValues(results) {
  if (Array.isArray(results.top_pages)) seen.path = results.top_pages.map((r) => r.path).filter(Boolean).slice(0, 50);
  if (Array.isArray(results.form_conversion)) seen.form_id = results.form_conversion.map((r) => r.form_id).filter(Boolean);
}

/** The kind of a step as the collector stores it ({path} or {event, …}). */
function kindOf(step) {
  if (!step.event || step.event === 'page_view') return KINDS[0];
  return KINDS.find((k) => k.event === step.event) || KINDS[0];
}

function stepRow(step, index) {
  const kind = kindOf(step);
  const options = KINDS.map((k) => `<option value="${k.id}"${k === kind ? ' selected' : ''}>${esc(k.label)}</option>`).join('');
  return `<li class="editor-step" data-testid="editor-step">` +
    `<span class="step-no">${index + 1}</span>` +
    `<select class="step-kind" aria-label="Step ${index + 1}: what the visitor did" data-testid="step-kind">${options}</select>` +
    `<input class="step-value" aria-label="Step ${index + 1}: which one" data-testid="step-value" list="editor-values-${kind.field}" ` +
    `placeholder="${esc(kind.placeholder)}" value="${esc(step[kind.field] || '')}">` +
    `<button type="button" class="ghost quiet remove-step" aria-label="Remove step ${index + 1}" title="Remove this step">✕</button></li>`;
}

/** The steps as the form shows them now. */
function readSteps(form) {
  return $$('.editor-step', form).map((li) => {
    const kind = KINDS.find((k) => k.id === $('.step-kind', li).value) || KINDS[0];
    const value = $('.step-value', li).value.trim();
    const step = kind.event ? { event: kind.event } : {};
    if (value) step[kind.field] = value;
    return step;
  });
}

function drawSteps(form, steps) {
  $('.editor-steps', form).innerHTML = steps.map(stepRow).join('');
  $('.add-step', form).disabled = steps.length >= MAX_STEPS;
  for (const b of $$('.remove-step', form)) b.disabled = steps.length <= MIN_STEPS;
}

function datalists() {
  return Object.entries(seen).map(([field, values]) =>
    `<datalist id="editor-values-${field}">${values.map((v) => `<option value="${esc(v)}"></option>`).join('')}</datalist>`).join('');
}

/** Opens the editor for `name` (a saved funnel) or a new one. */
function open(panelEl, name, onSaved) {
  const existing = name ? state.defs.funnels[name] : null;
  const steps = existing ? existing.steps.map((s) => ({ ...s })) : [{ path: '' }, { event: 'purchase' }];
  const windowValue = existing?.window || '7d';
  const order = existing?.order || 'strict';
  const host = $('.funnel-editor-host', panelEl);
  host.innerHTML = `<form class="funnel-editor" data-testid="funnel-editor" novalidate>` +
    `<div class="editor-row"><label>Name <input name="name" data-testid="editor-name" required maxlength="64" ` +
    `pattern="[A-Za-z0-9_.\\-]{1,64}" placeholder="course_buyers" value="${esc(name || '')}"${name ? ' readonly' : ''}></label>` +
    `<label>Within <select name="window" data-testid="editor-window">${WINDOWS.map(([v, l]) =>
      `<option value="${v}"${v === windowValue ? ' selected' : ''}>${l}</option>`).join('')}` +
    (WINDOWS.some(([v]) => v === windowValue) ? '' : `<option value="${esc(windowValue)}" selected>${esc(windowValue)}</option>`) +
    `</select></label>` +
    `<label>Order <select name="order" data-testid="editor-order"><option value="strict"${order === 'strict' ? ' selected' : ''}>steps in this order</option>` +
    `<option value="any"${order === 'any' ? ' selected' : ''}>any order</option></select></label></div>` +
    `<ol class="editor-steps"></ol>${datalists()}` +
    `<div class="editor-row"><button type="button" class="ghost add-step" data-testid="editor-add-step">+ Add a step</button>` +
    `<span class="editor-error" role="alert" data-testid="editor-error"></span>` +
    (name ? `<button type="button" class="ghost quiet delete-funnel" data-testid="editor-delete">Delete</button>` : '') +
    `<button type="button" class="ghost cancel">Cancel</button>` +
    `<button type="submit" class="ghost save" data-testid="editor-save">Save funnel</button></div></form>`;
  const form = $('form', host);
  drawSteps(form, steps);
  const error = (message) => { $('.editor-error', form).textContent = message; };
  form.addEventListener('change', (e) => {
    // Another kind: its own placeholder and suggestions, the value kept.
    if (e.target.classList.contains('step-kind')) drawSteps(form, readSteps(form));
  });
  form.addEventListener('click', async (e) => {
    if (e.target.classList.contains('add-step')) {
      drawSteps(form, [...readSteps(form), { path: '' }]);
      $$('.step-value', form).at(-1).focus();
    } else if (e.target.classList.contains('remove-step')) {
      const index = $$('.remove-step', form).indexOf(e.target);
      drawSteps(form, readSteps(form).filter((_, i) => i !== index));
    } else if (e.target.classList.contains('cancel')) {
      host.innerHTML = '';
    } else if (e.target.classList.contains('delete-funnel')) {
      if (!confirm(`Delete the funnel ${name}?`)) return;
      const response = await send('DELETE', name);
      if (!response.ok) return error(await message(response));
      host.innerHTML = '';
      onSaved('');
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const newName = form.elements.name.value.trim();
    if (!NAME.test(newName)) return error('A name is 1 to 64 letters, digits, dots, dashes or underscores.');
    if (!name && state.defs.funnels[newName]) return error(`There is already a funnel named ${newName}.`);
    const list = readSteps(form);
    const missing = list.findIndex((s, i) => {
      const kind = KINDS.find((k) => k.id === $$('.step-kind', form)[i].value);
      return kind.required && !s[kind.field];
    });
    if (missing >= 0) return error(`Step ${missing + 1} needs a value.`);
    const body = { steps: list, window: form.elements.window.value, order: form.elements.order.value };
    $('.save', form).disabled = true;
    const response = await send('PUT', newName, body);
    $('.save', form).disabled = false;
    if (!response.ok) return error(await message(response));
    host.innerHTML = '';
    onSaved(newName);
  });
  $('input[name="name"]', form).focus();
}

function send(method, name, body) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body) headers['Content-Type'] = 'application/json';
  const url = `${BASE}/v1/admin/funnels/${encodeURIComponent(state.site)}/${encodeURIComponent(name)}`;
  return fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
}

async function message(response) {
  const text = await response.text();
  try {
    return JSON.parse(text).message || text;
  } catch {
    return text || response.statusText;
  }
}

/** Shows "Edit" only for a funnel saved from the dashboard. */
export function updateEditButton() {
  const saved = state.defs?.saved_funnels || [];
  $('#funnel-edit').hidden = !saved.includes(state.funnel);
}

/** Wires "New funnel" and "Edit"; `onSaved(name)` reloads the definitions and opens `name` ('' after a deletion). */
export function wireFunnelEditor(onSaved) {
  const p = $('[data-panel="funnel"]');
  $('#funnel-new').addEventListener('click', () => open(p, '', onSaved));
  $('#funnel-edit').addEventListener('click', () => open(p, state.funnel, onSaved));
}
