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
    const me = d.currentScript || d.querySelector('script[data-site]');
    const S = me.dataset.site;
    const U = new URL('.', me.src).href.slice(0, -1);
    const Q = K?.q || []; // calls made before we were ready
    let H = []; // track/purchase/identify held until the decision and the pixel
    let G; // granted categories
    let st; // undefined: undecided, 1: pixel allowed, 0: not allowed
    let M, Mp, on, X, cp, bp, last, busy;
    const granted = (x) => (x ? 'granted' : 'denied');

    // Consent Mode v2: gtag('consent', 'default'|'update', {...}), or a
    // gtag-style `arguments` entry pushed onto dataLayer.
    const gtag = function () {
      try {
        typeof w.gtag == 'function' ? w.gtag(...arguments) : w.dataLayer?.push?.(arguments);
      } catch (e) {}
    };
    // g: granted categories, or nothing for the `default`. An update is sent
    // when the state differs from the last one sent.
    const consentMode = (g, m = granted(g?.marketing), a = granted(g?.analytics)) => {
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

    // Activate the first pending category script whose category is granted
    // (`necessary` always is); src scripts one after the other, inline ones
    // in order. Each is replaced by a live copy, so it runs once.
    // Before any decision G is undefined: only `necessary` ones run.
    const run = () => {
      if (busy) return;
      const o = [...d.querySelectorAll('script[type="text/plain"][data-ktra-category]')].find(
        (o) => ({ necessary: 1, ...G })[o.dataset.ktraCategory]
      );
      if (!o) return;
      const n = d.createElement('script');
      for (const a of o.attributes) if (a.name != 'type') n.setAttribute(a.name, a.value);
      n.nonce = o.nonce;
      n.text = o.text;
      if (o.src) busy = n.onload = n.onerror = () => ((busy = 0), run());
      o.replaceWith(n);
      o.src || run();
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
      G = {};
      x.p.map((c) => (G[c] = 1));
      st = G.analytics && G.marketing ? 1 : 0;
      consentMode(G);
      run();
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
        s.nonce = me.nonce;
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
    d.addEventListener('DOMContentLoaded', run);
    run(); // `necessary` scripts

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
