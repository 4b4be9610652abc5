// The pixel's JS host: the page side of ktra-pixel. It keeps no state of
// the pixel's: it reads and writes the platform (DOM, cookies, storage,
// history, timers, fetch, sendBeacon) when the wasm asks, and forwards page
// events to the wasm as facts, with API values as JS converts them. What is
// sent and when — visitor and sessions, ids, milestones, engagement,
// batching, retries, the wire JSON, consent expiry — is Rust's
// (pixel-wasm/src/pixel.rs). Three rules stay here because each costs the
// wasm far more than it saves here (measured; see pixel-wasm/src/lib.rs):
// the landing's campaign, which link leaves the site, and which controls
// of a form are fields (and which holds an identify form's email).
//
// The ABI (pixel-wasm/src/abi.rs documents it):
// - wasm -> JS: one import, `ktra.k_do(op, ptr, len, n) -> number`: `op`
//   is an op code (OP.*), (ptr, len) a UTF-8 string in wasm memory, `n` a
//   number. Ops that produce a string write it into wasm memory through
//   the export `k_buf(len) -> ptr` and return its length, or -1 for none.
// - JS -> wasm: one export, `k_ev(code, now, a, b)`: `code` is an event
//   code (EV.*); the call's strings are in the `k_buf` area, each followed
//   by ARG.END, ARG.NONE standing for none.
// The default export loads the wasm; the loader calls it, then `start`.
// Nothing here throws into the page: every entry point catches.
//
// Build-time constants: OP.*, EV.*, ARG.*, NAME.* and CAMPAIGN.* are not
// written down here. They come from the Rust definitions
// (`ktra_pixel::abi::js_defines`): `cargo xtask build-web` passes them to
// esbuild as `--define`s, which inlines them; the Chromium tests set them
// as globals. So they are read only inside functions, never while this
// module loads.
//
// Size: the built file counts toward the pixel's hard budget (wasm + this,
// 10240 B gzipped). esbuild bundles and minifies it, renaming every name
// that is not exported, so names are for the reader.

// Page events listened to on window in the capture phase (which sees every
// element's events, also non-bubbling media events, and elements added
// later). `onPageEvent` says what each is forwarded as.
const TYPES = 'click auxclick submit play timeupdate ended scroll popstate visibilitychange pagehide pointerdown keydown touchstart mousemove'.split(' ');

// Aliases: once minified, one letter at each use instead of the global's name.
const win = window, doc = document, loc = location, hist = history;
const encoder = new TextEncoder(), decoder = new TextDecoder();

let wasm; // the wasm instance's exports
let ops; // the op table, by op code (`bind` makes it)
let endpoint = ''; // where batches go (OP.ENDPOINT)
let historyProxies = []; // [method, original, proxy] for pushState and replaceState
let timers = {}; // by task name: [setTimeout handle, due time in ms]

/** Connects the host to the wasm instance's exports. */
export function bind(exports) {
  wasm = exports;
  ops = makeOps();
}

/** Loads the wasm (`{module_or_path}`: its URL) and connects the host to it. */
export default async function init(options) {
  wasm || bind((await WebAssembly.instantiateStreaming(fetch(options.module_or_path), { ktra: { k_do } })).instance.exports);
}

// A string into wasm memory, as an op's result: its length; -1 for anything
// that is not a string (none).
function give(s) {
  if (typeof s != 'string') return -1;
  const bytes = encoder.encode(s), ptr = wasm.k_buf(bytes.length);
  new Uint8Array(wasm.memory.buffer, ptr, bytes.length).set(bytes);
  return bytes.length;
}

// Calls into the wasm: event `code` with strings `args` (none for a
// non-string) and numbers `a`, `b`.
function send(code, args = [], a, b) {
  try {
    const encoded = args.map(s => (typeof s == 'string' ? encoder.encode(s) : [ARG.NONE]));
    const total = encoded.reduce((sum, bytes) => sum + bytes.length + 1, 0), ptr = wasm.k_buf(total);
    // After k_buf: growing the wasm memory detaches the old buffer.
    const memory = new Uint8Array(wasm.memory.buffer, ptr, total);
    let at = 0;
    for (const bytes of encoded) {
      memory.set(bytes, at);
      at += bytes.length;
      memory[at++] = ARG.END;
    }
    wasm.k_ev(code, Date.now(), a, b); // numbers as the wasm API converts them: NaN for none
  } catch (e) {
    // not loaded yet, or a trap in the pixel: never the page's problem
  }
}

// The op table, by op code. Each op gets the call's string and number; its
// result goes back as the wasm API converts it (a boolean as 1 or 0,
// nothing as NaN, which the pixel reads as no answer).
const makeOps = () => ({
  [OP.HREF]: () => give(loc.href),
  [OP.REFERRER]: () => give(doc.referrer),
  [OP.TITLE]: () => give(doc.title),
  [OP.PARAM]: name => give(new URLSearchParams(loc.search).get(name)?.trim()),
  [OP.CAMPAIGN]: () => {
    // The landing's campaign as the batch's `utm` object: each parameter
    // (CAMPAIGN.PARAMS) as its name without CAMPAIGN.PREFIX, trimmed; a value longer
    // than the collector takes (CAMPAIGN.MAX_BYTES of UTF-8) is left out (a
    // cut click id would be wrong anyway); none without any.
    const query = new URLSearchParams(loc.search), utm = {};
    for (const param of CAMPAIGN.PARAMS) {
      const value = query.get(param)?.trim();
      if (value && encoder.encode(value).length <= CAMPAIGN.MAX_BYTES) utm[param.replace(CAMPAIGN.PREFIX, '')] = value;
    }
    return give(Object.keys(utm).length ? JSON.stringify(utm) : null);
  },
  [OP.COOKIE]: name => give(doc.cookie.split('; ').find(c => c.split('=')[0] == name)?.slice(name.length + 1)),
  [OP.SET_COOKIE]: (nameValue, maxAge) => {
    doc.cookie = nameValue + '; Path=/; Max-Age=' + maxAge + '; SameSite=Lax' + (loc.protocol == 'https:' ? '; Secure' : '');
  },
  [OP.STORED]: () => give(localStorage.getItem(NAME.SESSION_STORAGE_KEY)),
  [OP.STORE]: session => localStorage.setItem(NAME.SESSION_STORAGE_KEY, session),
  [OP.UNSTORE]: () => localStorage.removeItem(NAME.SESSION_STORAGE_KEY),
  [OP.STRIP]: name => {
    // By hand rather than URLSearchParams, which would re-encode the rest.
    const url = new URL(loc.href), pairs = url.search.slice(1).split('&'), kept = pairs.filter(p => p.split('=')[0] != name);
    if (kept.length == pairs.length) return 0;
    url.search = kept.join('&'); // the other parameters as written
    hist.replaceState(hist.state, '', url);
    return 1;
  },
  [OP.LISTEN]: listen,
  [OP.SET_TIMER]: (task, ms) => {
    // One timer per task: an earlier due time replaces a later one, never the reverse.
    const timer = timers[task], due = Date.now() + ms;
    if (!timer || due < timer[1]) {
      clearTimeout(timer?.[0]);
      timers[task] = [setTimeout(() => { delete timers[task]; send(EV.TIMER, [], task); }, ms), due];
    }
  },
  [OP.CLEAR_TIMERS]: () => {
    for (const task in timers) clearTimeout(timers[task][0]);
    timers = {};
  },
  [OP.ENDPOINT]: url => { endpoint = url; },
  // `request` comes back with the response: its status, 0 when the request failed.
  [OP.FETCH]: (body, request) => fetch(endpoint, { method: 'POST', keepalive: true, body }).then(
    r => send(EV.RESPONSE, [text(r.headers.get('Retry-After'))], request, r.status),
    () => send(EV.RESPONSE, [], request, 0),
  ) && 1,
  [OP.BEACON]: body => navigator.sendBeacon(endpoint, body),
  [OP.RANDOM]: () => Math.random(),
  [OP.UUID]: () => {
    // A blob URL ends in a fresh random (v4) UUID (File API), on http
    // pages too, where crypto.randomUUID is missing.
    const url = URL.createObjectURL(new Blob());
    URL.revokeObjectURL(url);
    return give(url.slice(-36));
  },
  [OP.HIDDEN]: () => doc.hidden,
  [OP.SCROLLED]: () => {
    // Percent of the page seen; a page that fits, or within 2 px of its end: 100.
    const height = doc.documentElement.scrollHeight, seen = Math.max(win.scrollY, 0) + win.innerHeight;
    return seen + 2 >= height ? 100 : (seen / height) * 100;
  },
});

/** The wasm's one import. */
export function k_do(op, ptr, len, n) {
  try {
    return ops[op](decoder.decode(new Uint8Array(wasm.memory.buffer, ptr, len)), n);
  } catch (e) {
    return -1;
  }
}

// A page event, forwarded with the facts Rust needs about its target.
function onPageEvent(e) {
  try {
    const type = e.type, target = e.target;
    // By TYPES: what each forwards as, input for the rest.
    const code = [EV.CLICK, EV.CLICK, EV.SUBMIT, EV.MEDIA, EV.MEDIA, EV.MEDIA, EV.SCROLL, EV.NAV, EV.HIDE, EV.HIDE][
      TYPES.indexOf(type)] ?? EV.ACTIVE;
    const attr = name => target.getAttribute(name);
    if (code == EV.CLICK) {
      // A link that leaves the site: http(s) to another host, "www." aside.
      const link = target.closest?.('a[href]'), site = host => host.replace(/^www\./, '');
      const outbound = link && /^https?:$/.test(link.protocol) && link.hostname && site(link.hostname) != site(loc.hostname);
      send(code, outbound ? [link.href] : [], e.button, type == 'auxclick');
    } else if (code == EV.SUBMIT) {
      // Controls a visitor fills in, by name; a value only for the email
      // field of a data-ktra-identify form: the one the attribute names,
      // else the first type=email, else the first whose name has "email".
      const fields = [...target.querySelectorAll('input,select,textarea')], wanted = attr('data-ktra-identify');
      const action = target.action; // a string, unless a control named "action" shadows it
      const name = f => f.getAttribute('name') || '', fieldType = f => (f.getAttribute('type') || '').toLowerCase();
      const email = wanted == null ? null
        : text((fields.find(f => wanted && name(f) == wanted) || fields.find(f => fieldType(f) == 'email')
          || fields.find(f => /email/i.test(name(f))))?.value)?.toLowerCase() ?? '';
      send(code, [attr('id'), attr('name'), typeof action == 'string' ? action : attr('action'), email,
        ...new Set(fields.filter(f => !/^(submit|button|reset|image|hidden)$/.test(fieldType(f))).map(name))]);
    } else if (code == EV.MEDIA) {
      // <video> only, known by its id, else its source.
      target.tagName == 'VIDEO' && send(code, [type, attr('id') || target.currentSrc], target.currentTime, target.duration);
    } else {
      send(code, [], 0, type == 'pagehide');
    }
  } catch (x) {
    // a page element the pixel cannot read is not the page's problem
  }
}

// OP.LISTEN: attaches (on = 1) or removes (on = 0) the listener and the history proxies.
// A proxy calls the original with the caller's `this` and arguments, passes
// its result and exceptions through, and then tells the pixel.
function listen(_, on) {
  for (const type of TYPES) win[on ? 'addEventListener' : 'removeEventListener'](type, onPageEvent, true);
  if (on) {
    historyProxies = ['pushState', 'replaceState'].flatMap(method => {
      const original = hist[method];
      if (typeof original != 'function') return [];
      const proxy = new Proxy(original, {
        apply: (fn, self, args) => { const result = Reflect.apply(fn, self, args); send(EV.NAV); return result; },
      });
      hist[method] = proxy;
      return [[method, original, proxy]];
    });
  } else {
    // A proxy someone wrapped in turn stays (it only forwards once stopped).
    for (const [method, original, proxy] of historyProxies) if (hist[method] === proxy) hist[method] = original;
    historyProxies = [];
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
const flat = (o, skip = []) => (o && typeof o == 'object' ? Object.keys(o) : []).flatMap(key => {
  const value = o[key], type = typeof value;
  return !skip.includes(key) && (type == 'string' || type == 'boolean' || (type == 'number' && isFinite(value)))
    ? [key, type[0] + value] : [];
});
const PURCHASE_FIELDS = ['order_id', 'value', 'currency', 'product_id', 'product_name'];

/** Starts the pixel: `{endpoint, site, token, exp}` (consent expiry, Unix seconds). */
export const start = c => send(EV.START, [c?.endpoint, c?.site, c?.token], c?.exp);
/** Stops the pixel and removes what it left (consent withdrawn). */
export const stop = () => send(EV.STOP);
/** A custom event with flat props. */
export const track = (name, props) => send(EV.TRACK, [text(name), ...flat(props)]);
/** A purchase: `{order_id, value, currency, product_id, product_name, ...props}`. */
export const purchase = o =>
  send(EV.PURCHASE, [id(o?.order_id), num(o?.value), text(o?.currency)?.toUpperCase(), id(o?.product_id), o?.product_name,
    ...flat(o, PURCHASE_FIELDS)]);
/** Links the visitor to a lead: `{email}` or `{lead_id}`. */
export const identify = o => send(EV.IDENTIFY, [text(o?.email)?.toLowerCase(), id(o?.lead_id)]);
