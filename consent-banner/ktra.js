/* ktra loader — consent-first analytics. https://github.com/ktra */
// Embedded by site owners as
//   <script async src="https://COLLECTOR/ktra.js" data-site="SITE_ID"></script>
//
// What it does (see README.md for the full story):
// - defines window.ktra(command, ...args) and replays calls queued by the stub
//   `window.ktra = window.ktra || function(){(ktra.q=ktra.q||[]).push(arguments)}`;
// - sends the Google Consent Mode v2 `default` (all denied) at once;
// - fetches GET {collector}/v1/config/{site}, reads the `ktra_consent` cookie and
//   either applies the stored decision or loads banner.js to ask;
// - activates <script type="text/plain" data-ktra-category="..."> tags of the
//   granted categories, in page order, each once;
// - imports the pixel only after analytics AND marketing are granted and a
//   signed token exists. Nothing of the pixel is requested before that.
//
// Not all markup on the page is the site owner's (comments, CMS fields, a
// sanitizer's leftovers). So the loader trusts only its own <script> element
// for the site id and the collector's address, and activates a category
// script only when it carries the loader tag's CSP nonce and names a granted
// category (README.md, "Hostile markup").
//
// Internal API shared with banner.js (`ktra._`; not public, may change):
//   s  site id                u  collector base URL (no trailing slash)
//   c  site config, once fetched
//   d()   -> decoded ktra_consent cookie for this site, or undefined: the
//            payload {v, c, s, p: granted purposes, r: revision, e: expiry}
//            plus t: raw cookie, sig: signed by the collector (not checked
//            here), ok: v 1, unexpired and not older than the config revision
//   a(p)  -> apply purposes `p` for this page now (no token: never starts the pixel)
//   a()   -> re-read the cookie and apply it (starts the pixel on a signed grant)
//   v     ktra_vid as it was when the pixel was last stopped
//   B     <- set by banner.js: {show(), withdraw(source), init()}
((w, d, warn = (e) => console.warn('ktra:', e)) => {
  try {
    let K = w.ktra;
    if (K?._) return; // loaded twice
    // Our own tag. Injected markup can clobber `document.currentScript`
    // (<img name="currentScript" src="//evil/..."> shadows it), so the real
    // one is read through Document's own getter, which named elements cannot
    // shadow. Only a real HTML <script> counts, and the collector is where
    // its own `src` points. There is no fallback such as the first
    // <script data-site>: a classic script always has a currentScript, and an
    // inert <script data-site src> is just what injected markup can add.
    const realScript = (el) => el instanceof HTMLScriptElement && el;
    const loaderTag = realScript(Reflect.get(Document.prototype, 'currentScript', d));
    const S = loaderTag.dataset.site;
    const U = new URL('.', loaderTag.src).href.slice(0, -1);
    const nonce = loaderTag.nonce; // the page's CSP nonce, if it has one
    const Q = K?.q || []; // calls made before we were ready
    let H = []; // track/purchase/identify held until the decision and the pixel
    const OPTIONAL = ['analytics', 'marketing'];
    let granted = []; // the OPTIONAL categories granted, in that order
    let st; // undefined: undecided, 1: pixel allowed, 0: not allowed
    let M, Mp, on, X, cp, bp, last, waitingForSrc;
    const modeValue = (isGranted) => (isGranted ? 'granted' : 'denied');

    // Consent Mode v2: gtag('consent', 'default'|'update', {...}), or a
    // gtag-style `arguments` entry pushed onto dataLayer.
    const gtag = function () {
      try {
        typeof w.gtag == 'function' ? w.gtag(...arguments) : w.dataLayer?.push?.(arguments);
      } catch (e) {}
    };
    // g: the granted optional categories, or nothing for the `default`. An
    // update is sent when the state differs from the last one sent.
    const consentMode = (g, m = modeValue(g?.includes('marketing')), a = modeValue(g?.includes('analytics'))) => {
      const o = { ad_storage: m, ad_user_data: m, ad_personalization: m, analytics_storage: a };
      g ? last != (last = m + a) && gtag('consent', 'update', o) : gtag('consent', 'default', { ...o, wait_for_update: 500 });
    };

    const cookie = (n) => d.cookie.match(`(^|; *)${n}=([^;]*)`)?.[2];
    const dec = () => {
      try {
        const t = cookie('ktra_consent');
        const x = t.split('.');
        const o = JSON.parse(atob(x[0].replace(/-/g, '+').replace(/_/g, '/')));
        if (o.s == S && o.p.map)
          return { ...o, t, sig: !!x[1], ok: o.v == 1 && o.e * 1e3 > Date.now() && !(o.r < I.c?.revision) };
      } catch (e) {}
    };

    // Category scripts: <script type="text/plain" data-ktra-category="...">.
    // Injected markup can hold such tags too, and under 'strict-dynamic' a
    // script the loader inserts runs whatever it says. So a tag runs only if
    // - its category is `necessary` or an element of `granted` (never a
    //   property lookup: `constructor`, `__proto__` or `toString` are not
    //   granted, nor is any name but the three), and
    // - when the loader tag has a nonce, the tag has the same one (a
    //   `necessary` tag too): injected markup cannot know it.
    const mayRun = (tag) =>
      ['necessary', ...granted].includes(tag.dataset.ktraCategory) && (!nonce || tag.nonce == nonce);

    // Activate the first pending category script that may run; src scripts
    // one after the other, inline ones in order. Each is replaced by a live
    // copy, so it runs once.
    const activateCategoryScripts = () => {
      if (waitingForSrc) return;
      const tag = [...d.querySelectorAll('script[type="text/plain"][data-ktra-category]')].find(mayRun);
      if (!tag) return;
      const live = tag.cloneNode(true); // attributes and text
      live.nonce = tag.nonce; // hidden from attributes under a CSP header
      live.type = ''; // JavaScript
      if (tag.src) waitingForSrc = live.onload = live.onerror = () => ((waitingForSrc = 0), activateCategoryScripts());
      tag.replaceWith(live);
      tag.src || activateCategoryScripts();
    };

    const flush = () => {
      // A throwing pixel call ends up in the caller's catch, never in the page.
      while (on && H.length) {
        const [c, ...a] = H.shift();
        M[c](...a);
      }
    };

    const pixel = () =>
      (Mp ||= import(U + '/pixel/ktra_pixel.js').then((m) =>
        m.default({ module_or_path: U + '/pixel/ktra_pixel_bg.wasm' }).then(() => (M = m))
      ))
        .then((m) => {
          // Also on a running pixel: a new token refreshes its consent.
          if (st) m.start({ endpoint: U, site: S, token: X.t, exp: X.e }), (on = 1);
          flush();
        })
        .catch((e) => warn(e, (Mp = 0)));

    // Apply a decision {p: purposes, sig, t: token, e: expiry} to this page.
    // Only a signed token (sig) starts the pixel.
    const apply = (x) => {
      granted = OPTIONAL.filter((c) => x.p.includes(c));
      st = granted[1] ? 1 : 0; // both of them
      consentMode(granted);
      activateCategoryScripts();
      if (st) x.sig && ((X = x), pixel());
      else if (((H = []), on)) {
        on = 0;
        I.v = cookie('ktra_vid'); // stop() deletes it; a withdrawal sends it
        try {
          M.stop();
        } catch (e) {}
      }
    };

    const conf = () =>
      (cp ||= fetch(U + '/v1/config/' + S) // cross-origin: no cookies sent
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then(
          (c) => (I.c = c),
          (e) => {
            cp = 0;
            throw e;
          }
        ));

    const banner = () =>
      (bp ||= new Promise((ok, ko) => {
        const s = d.createElement('script');
        s.src = U + '/banner.js';
        s.nonce = nonce;
        s.onload = () => ok(I.B);
        s.onerror = () => ko((bp = 0)); // the browser logs the failed request
        d.head.append(s);
      }));

    // Call banner.js (loaded on demand). A withdrawal does not wait for the config.
    const need = (f, a) =>
      (f == 'withdraw' ? banner() : conf().then(banner)).then((b) => b[f](a)).catch(warn);

    const cmd = (q) => {
      const [c, a, b] = q;
      if (c == 'consent') a == 'withdraw' ? (apply({ p: [] }), need(a, b)) : need('show');
      else if (/^(track|purchase|identify)$/.test(c) && st !== 0) H.push(q), flush();
    };

    const I = {
      s: S,
      u: U,
      d: dec,
      a: (p, x) => (p ? apply({ p }) : (x = dec())?.ok && apply(x))
    };
    K = w.ktra = (...a) => {
      try {
        cmd(a);
      } catch (e) {
        warn(e);
      }
    };
    K._ = I;

    consentMode();
    d.addEventListener('click', (e) => {
      const t = e.target.closest?.('[data-ktra-consent]');
      if (t) {
        e.preventDefault();
        K('consent', t.dataset.ktraConsent, 'settings'); // "withdraw", else show
      }
    });
    d.addEventListener('DOMContentLoaded', activateCategoryScripts);
    activateCategoryScripts(); // `necessary` scripts

    const boot = () => {
      const x = dec();
      if (x?.ok) {
        apply(x);
        // banner.js retries an unsigned (not yet recorded) decision and shows
        // the floating button.
        (x.sig && !I.c?.floating_button) || need('init');
      } else I.c && need('show');
    };
    conf().then(boot, boot);
    Q.map((a) => K(...a));
  } catch (e) {
    warn(e);
  }
})(window, document);
