/* Larkspur & Co. — the demo shop's own script (catalog, cart, small page
 * helpers). Analytics is not done here: the page embeds ktra exactly as a
 * site owner would (`<script async src="…/ktra.js" data-site="…">`), and
 * only thanks.html calls ktra('purchase', …). */
(function () {
  'use strict';

  var CATALOG = {
    'mug-fieldnote': { id: 'mug-fieldnote', name: 'Fieldnote Mug', price: 29, art: 'assets/mug.svg',
      blurb: 'Hand-thrown stoneware, 350 ml, with a forest-green glaze that pools darker at the rim.' },
    'pourover-set': { id: 'pourover-set', name: 'Terracotta Pour-over Set', price: 64, art: 'assets/pourover.svg',
      blurb: 'A slow-coffee dripper and carafe, fired twice, for two generous cups.' },
    'plate-dune': { id: 'plate-dune', name: 'Dune Side Plate', price: 24, art: 'assets/plate.svg',
      blurb: 'A 21 cm plate with a speckled oat glaze and a hand-stippled rim.' }
  };
  var CURRENCY = 'EUR';
  var CART_KEY = 'larkspur_cart';
  var ORDER_KEY = 'larkspur_order';

  function money(v) {
    try { return new Intl.NumberFormat('en-IE', { style: 'currency', currency: CURRENCY }).format(v); }
    catch (e) { return '€' + Number(v).toFixed(2); }
  }
  function read(store, key) {
    try { return JSON.parse(store.getItem(key) || 'null'); } catch (e) { return null; }
  }
  function write(store, key, v) {
    try { store.setItem(key, JSON.stringify(v)); } catch (e) { /* private mode: the page still works */ }
  }
  function cart() { return read(localStorage, CART_KEY) || []; }
  function setCart(items) { write(localStorage, CART_KEY, items); updateCount(); }
  function add(id, qty) {
    var items = cart().filter(function (i) { return CATALOG[i.id]; });
    var found = items.find(function (i) { return i.id === id; });
    if (found) found.qty = Math.min(9, found.qty + qty); else items.push({ id: id, qty: qty });
    setCart(items);
  }
  function lines() {
    return cart().filter(function (i) { return CATALOG[i.id] && i.qty > 0; }).map(function (i) {
      var p = CATALOG[i.id];
      return { id: p.id, name: p.name, qty: i.qty, price: p.price, total: p.price * i.qty };
    });
  }
  function total(ls) { return ls.reduce(function (s, l) { return s + l.total; }, 0); }
  function updateCount() {
    var n = lines().reduce(function (s, l) { return s + l.qty; }, 0);
    document.querySelectorAll('[data-cart-count]').forEach(function (el) { el.textContent = String(n); });
  }
  function orderId() {
    var a = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789', s = '';
    var r = new Uint32Array(6);
    (window.crypto || {}).getRandomValues ? crypto.getRandomValues(r) : r.forEach(function (_, i) { r[i] = Math.random() * 1e9; });
    r.forEach(function (x) { s += a[x % a.length]; });
    return 'LK-' + s;
  }
  /** The visible campaign parameters of this page's URL (for the landing page's badge). */
  function utm() {
    var q = new URLSearchParams(location.search), out = {};
    ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term'].forEach(function (k) {
      if (q.get(k)) out[k.slice(4)] = q.get(k);
    });
    if (q.get('ktra_ec')) out.email = true;
    return out;
  }

  window.Shop = { CATALOG: CATALOG, CURRENCY: CURRENCY, ORDER_KEY: ORDER_KEY, money: money, cart: cart, setCart: setCart,
    add: add, lines: lines, total: total, orderId: orderId, utm: utm, read: read, write: write };

  document.addEventListener('DOMContentLoaded', function () {
    updateCount();
    var here = location.pathname.split('/').pop() || 'index.html';
    document.querySelectorAll('.nav a').forEach(function (a) {
      if (a.getAttribute('href') === here) a.setAttribute('aria-current', 'page');
    });
  });
})();
