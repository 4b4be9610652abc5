// The pixel's JS host: the page side of ktra-pixel. It keeps no state of
// the pixel's: it reads and writes the platform (DOM, cookies, storage,
// history, timers, fetch, sendBeacon) when the wasm asks, and forwards page
// events to the wasm as facts, read the way JS reads them best (which link
// leaves the site, which controls are fields, the landing's campaign
// parameters, API values as JS converts them). What is sent and when —
// visitor and sessions, ids, milestones, engagement, batching, retries,
// the wire JSON, consent expiry — is Rust's (pixel-wasm/src/pixel.rs).
//
// The ABI (pixel-wasm/src/host.rs documents it; a native test checks that
// the names below match it, in order):
// - wasm -> JS: one import, `ktra.k_do(op, ptr, len, n) -> number`: `op`
//   indexes OPS, (ptr, len) is a UTF-8 string in wasm memory, `n` a number.
//   Ops that produce a string write it into wasm memory through the export
//   `k_buf(len) -> ptr` and return its length, or -1 for none.
// - JS -> wasm: one export, `k_ev(code, now, a, b)`: `code` is one of the
//   event codes below; the call's strings are in the `k_buf` area, each
//   followed by a 0xFF byte, 0xFE standing for none (neither byte occurs
//   in UTF-8).
// The default export loads the wasm; the loader calls it, then `start`.
// Nothing here throws into the page: every entry point catches.

// Event codes (pixel-wasm/src/host.rs `ev`).
const START = 0, STOP = 1, TRACK = 2, PURCHASE = 3, IDENTIFY = 4, TIMER = 5, RESPONSE = 6, NAV = 7, ACTIVE = 8,
  SCROLL = 9, HIDE = 10, CLICK = 11, SUBMIT = 12, MEDIA = 13;

// Page events listened to on window in the capture phase (which sees every
// element's events, also non-bubbling media events, and elements added
// later), and the code each is forwarded as (ACTIVE for the rest).
const TYPES = 'click auxclick submit play timeupdate ended scroll popstate visibilitychange pagehide pointerdown keydown touchstart mousemove'.split(' ');
const CODES = [CLICK, CLICK, SUBMIT, MEDIA, MEDIA, MEDIA, SCROLL, NAV, HIDE, HIDE];

const STORAGE_KEY = 'ktra_sess';
// Campaign parameters, as ktra-schema's `Utm` (its field without "utm_").
const CAMPAIGN = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'gclid', 'fbclid', 'msclkid'];
const W = window, D = document, L = location, H = history;
const enc = new TextEncoder(), dec = new TextDecoder();

let X; // the wasm instance's exports
let url = ''; // where batches go (ENDPOINT)
let P = []; // history proxies: [method, original, proxy]
let T = {}; // timers by task name: [handle, due]

/** Connects the host to the wasm instance's exports. */
export function bind(x) {
  X = x;
}

/** Loads the wasm (`{module_or_path}`: its URL) and connects the host to it. */
export default async function init(o) {
  X || bind((await WebAssembly.instantiateStreaming(fetch(o.module_or_path), { ktra: { k_do } })).instance.exports);
}

// A string into wasm memory; -1 for anything that is not a string.
function give(s) {
  if (typeof s != 'string') return -1;
  const b = enc.encode(s), p = X.k_buf(b.length);
  new Uint8Array(X.memory.buffer, p, b.length).set(b);
  return b.length;
}

// Calls into the wasm with strings `args` and numbers `a`, `b`.
function ev(code, args = [], a, b) {
  try {
    const bytes = args.map(s => (typeof s == 'string' ? enc.encode(s) : [254]));
    const n = bytes.reduce((n, b) => n + b.length + 1, 0), p = X.k_buf(n);
    // After k_buf: growing the wasm memory detaches the old buffer.
    const m = new Uint8Array(X.memory.buffer, p, n);
    let o = 0;
    for (const b of bytes) {
      m.set(b, o);
      o += b.length;
      m[o++] = 255;
    }
    X.k_ev(code, Date.now(), +a || 0, +b || 0);
  } catch (e) {
    // not loaded yet, or a trap in the pixel: never the page's problem
  }
}

// The op table, in `Op` order.
const OPS = [
  /*HREF*/ () => give(L.href),
  /*REFERRER*/ () => give(D.referrer),
  /*TITLE*/ () => give(D.title),
  /*PARAM*/ s => give(new URLSearchParams(L.search).get(s)?.trim()),
  /*CAMPAIGN*/ () => {
    // The landing's campaign as the batch's `utm` object: utm_* and ad
    // click ids, trimmed, cut to 512 characters; none without any.
    const q = new URLSearchParams(L.search), utm = {};
    for (const p of CAMPAIGN) {
      const v = q.get(p)?.trim();
      if (v) utm[p.replace('utm_', '')] = v.slice(0, 512);
    }
    return give(Object.keys(utm).length ? JSON.stringify(utm) : null);
  },
  /*COOKIE*/ s => give(D.cookie.split('; ').find(c => c.split('=')[0] == s)?.slice(s.length + 1)),
  /*SET_COOKIE*/ (s, n) => {
    D.cookie = s + '; Path=/; Max-Age=' + n + '; SameSite=Lax' + (L.protocol == 'https:' ? '; Secure' : '');
  },
  /*STORED*/ () => give(localStorage.getItem(STORAGE_KEY)),
  /*STORE*/ s => localStorage.setItem(STORAGE_KEY, s),
  /*UNSTORE*/ () => localStorage.removeItem(STORAGE_KEY),
  /*STRIP*/ s => {
    const u = new URL(L.href), q = u.search.slice(1).split('&'), kept = q.filter(p => p.split('=')[0] != s);
    if (kept.length == q.length) return 0;
    u.search = kept.join('&'); // the other parameters as written
    H.replaceState(H.state, '', u);
    return 1;
  },
  /*LISTEN*/ (s, n) => listen(n),
  /*SET_TIMER*/ (s, n) => {
    const t = T[s], due = Date.now() + n;
    if (!t || due < t[1]) {
      clearTimeout(t?.[0]);
      T[s] = [setTimeout(() => { delete T[s]; ev(TIMER, [s]); }, n), due];
    }
  },
  /*CLEAR_TIMERS*/ () => {
    for (const s in T) clearTimeout(T[s][0]);
    T = {};
  },
  /*ENDPOINT*/ s => { url = s; },
  /*FETCH*/ (s, n) => fetch(url, { method: 'POST', keepalive: true, body: s }).then(
    r => ev(RESPONSE, [text(r.headers.get('Retry-After'))], n, r.status),
    () => ev(RESPONSE, [], n, 0),
  ) && 1,
  /*BEACON*/ s => +navigator.sendBeacon(url, s),
  /*RANDOM*/ () => Math.random(),
  /*UUID*/ () => {
    // A blob URL ends in a fresh random (v4) UUID (File API), on http
    // pages too, where crypto.randomUUID is missing.
    const u = URL.createObjectURL(new Blob());
    URL.revokeObjectURL(u);
    return give(u.slice(-36));
  },
  /*HIDDEN*/ () => +D.hidden,
  /*SCROLLED*/ () => {
    // Percent of the page seen; a page that fits, or within 2 px of its end: 100.
    const h = D.documentElement.scrollHeight, seen = Math.max(W.scrollY, 0) + W.innerHeight;
    return seen + 2 >= h ? 100 : (seen / h) * 100;
  },
];

/** The wasm's one import. */
export function k_do(op, ptr, len, n) {
  try {
    const r = OPS[op](dec.decode(new Uint8Array(X.memory.buffer, ptr, len)), n);
    return typeof r == 'number' ? r : 0;
  } catch (e) {
    return -1;
  }
}

// A page event, forwarded with the facts Rust needs about its target.
function on(e) {
  try {
    const t = e.type, g = e.target, code = CODES[TYPES.indexOf(t)] ?? ACTIVE;
    const at = n => g.getAttribute(n);
    if (code == CLICK) {
      // A link that leaves the site: http(s) to another host, "www." aside.
      const a = g.closest && g.closest('a[href]'), site = h => h.replace(/^www\./, '');
      const out = a && /^https?:$/.test(a.protocol) && a.hostname && site(a.hostname) != site(L.hostname);
      ev(code, out ? [a.href] : [], e.button, t == 'auxclick');
    } else if (code == SUBMIT) {
      // Controls a visitor fills in, by name; a value only for the email
      // field of a data-ktra-identify form: the one the attribute names,
      // else the first type=email, else the first whose name has "email".
      const F = [...g.querySelectorAll('input,select,textarea')], want = at('data-ktra-identify'), action = g.action;
      const name = f => f.getAttribute('name') || '', type = f => (f.getAttribute('type') || '').toLowerCase();
      const email = want == null ? null
        : text((F.find(f => want && name(f) == want) || F.find(f => type(f) == 'email')
          || F.find(f => /email/i.test(name(f))))?.value)?.toLowerCase() ?? '';
      ev(code, [at('id'), at('name'), typeof action == 'string' ? action : at('action'), email,
        ...new Set(F.filter(f => !/^(submit|button|reset|image|hidden)$/.test(type(f))).map(name))]);
    } else if (code == MEDIA) {
      // <video> only, known by its id, else its source.
      g.tagName == 'VIDEO' && ev(code, [t, at('id') || g.currentSrc], g.currentTime, g.duration);
    } else {
      ev(code, [], 0, t == 'pagehide');
    }
  } catch (x) {
    // a page element the pixel cannot read is not the page's problem
  }
}

// Attaches (n = 1) or removes (n = 0) the listener and the history proxies.
// A proxy calls the original with the caller's `this` and arguments, passes
// its result and exceptions through, and then tells the pixel.
function listen(n) {
  for (const t of TYPES) W[n ? 'addEventListener' : 'removeEventListener'](t, on, true);
  if (n) {
    P = ['pushState', 'replaceState'].flatMap(m => {
      const o = H[m];
      if (typeof o != 'function') return [];
      const p = new Proxy(o, { apply: (f, self, args) => { const r = Reflect.apply(f, self, args); ev(NAV); return r; } });
      H[m] = p;
      return [[m, o, p]];
    });
  } else {
    // A proxy someone wrapped in turn stays (it only forwards once stopped).
    for (const [m, o, p] of P) if (H[m] === p) H[m] = o;
    P = [];
  }
}

// The API's values, as JS converts them: `id` a string or a finite number
// as text; `num` a finite number (also from a numeric string: "49.90") as
// JS prints it, which is JSON; anything else none.
const id = v => (typeof v == 'string' ? v : typeof v == 'number' && isFinite(v) ? '' + v : null);
const text = v => (typeof v == 'string' ? v.trim() : null);
const num = v => (typeof v == 'number' || (typeof v == 'string' && v.trim()) ? id(+v) : null);

// A flat object's other strings, finite numbers and booleans as key,
// typed-value pairs ("s…", "n…" as JS prints it, "b…"); Rust keeps what the
// wire format allows.
const flat = (o, skip = []) => (o && typeof o == 'object' ? Object.keys(o) : []).flatMap(k => {
  const v = o[k], t = typeof v;
  return !skip.includes(k) && (t == 'string' || t == 'boolean' || (t == 'number' && isFinite(v))) ? [k, t[0] + v] : [];
});
const PURCHASE_FIELDS = ['order_id', 'value', 'currency', 'product_id', 'product_name'];

/** Starts the pixel: `{endpoint, site, token, exp}` (consent expiry, Unix seconds). */
export const start = c => ev(START, [c?.endpoint, c?.site, c?.token], c?.exp);
/** Stops the pixel and removes what it left (consent withdrawn). */
export const stop = () => ev(STOP);
/** A custom event with flat props. */
export const track = (name, props) => ev(TRACK, [text(name), ...flat(props)]);
/** A purchase: `{order_id, value, currency, product_id, product_name, ...props}`. */
export const purchase = o =>
  ev(PURCHASE, [id(o?.order_id), num(o?.value), text(o?.currency)?.toUpperCase(), id(o?.product_id), o?.product_name,
    ...flat(o, PURCHASE_FIELDS)]);
/** Links the visitor to a lead: `{email}` or `{lead_id}`. */
export const identify = o => ev(IDENTIFY, [text(o?.email)?.toLowerCase(), id(o?.lead_id)]);
