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
// Size: the built file has a hard budget (1536 B gzipped, `cargo xtask
// build-web` prints it). esbuild renames local variables, so they are named
// for the reader; property names survive minification, so the ones shared
// with banner.js (`ktra._`, below) and the cookie's fields stay one letter.
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
    let ktra = w.ktra; // the stub, if the page defined one
    if (ktra?._) return; // loaded twice
    // Our own tag. Injected markup can clobber `document.currentScript`
    // (<img name="currentScript" src="//evil/..."> shadows it), so the real
    // one is read through Document's own getter, which named elements cannot
    // shadow. Only a real HTML <script> counts, and the collector is where
    // its own `src` points. There is no fallback such as the first
    // <script data-site>: a classic script always has a currentScript, and an
    // inert <script data-site src> is just what injected markup can add.
    const realScript = (el) => el instanceof HTMLScriptElement && el;
    const loaderTag = realScript(Reflect.get(Document.prototype, 'currentScript', d));
    const site = loaderTag.dataset.site;
    const collector = new URL('.', loaderTag.src).href.slice(0, -1); // no trailing slash
    const nonce = loaderTag.nonce; // the page's CSP nonce, if it has one
    const queued = ktra?.q || []; // calls made to the stub before we were ready
    let held = []; // track/purchase/identify calls held until the decision and the pixel
    const OPTIONAL = ['analytics', 'marketing'];
    let granted = []; // the OPTIONAL categories granted, in that order
    let pixelAllowed; // undefined: undecided, 1: both granted, 0: not allowed
    let pixel; // the pixel module, once loaded
    let pixelLoading; // its import, in flight or done (0 after a failure: retried)
    let pixelRunning; // started and not stopped since
    let grant; // the signed decision the pixel runs under: {t: token, e: expiry, ...}
    let configLoading; // the config request (0 after a failure: retried)
    let bannerLoading; // banner.js's <script> load (0 after a failure: retried)
    let consentModeSent; // the last Consent Mode update, as marketing + analytics values
    let waitingForSrc; // a category script with src is loading: the next one waits
    const modeValue = (isGranted) => (isGranted ? 'granted' : 'denied');

    // Consent Mode v2: gtag('consent', 'default'|'update', {...}), or a
    // gtag-style `arguments` entry pushed onto dataLayer (hence a `function`:
    // gtag.js reads the Arguments object, not an array).
    const gtag = function () {
      try {
        typeof w.gtag == 'function' ? w.gtag(...arguments) : w.dataLayer?.push?.(arguments);
      } catch (e) {}
    };
    // grantedCategories: the granted optional categories, or nothing for the
    // `default`. An update is sent when the state differs from the last one sent.
    const consentMode = (
      grantedCategories,
      marketing = modeValue(grantedCategories?.includes('marketing')),
      analytics = modeValue(grantedCategories?.includes('analytics'))
    ) => {
      const signals = { ad_storage: marketing, ad_user_data: marketing, ad_personalization: marketing, analytics_storage: analytics };
      grantedCategories
        ? consentModeSent != (consentModeSent = marketing + analytics) && gtag('consent', 'update', signals)
        : gtag('consent', 'default', { ...signals, wait_for_update: 500 });
    };

    const cookie = (name) => d.cookie.match(`(^|; *)${name}=([^;]*)`)?.[2];
    // The ktra_consent cookie is `<base64url payload>.<signature>`; the
    // signature is the collector's business, its presence is ours.
    const readDecision = () => {
      try {
        const token = cookie('ktra_consent');
        const parts = token.split('.');
        const payload = JSON.parse(atob(parts[0].replace(/-/g, '+').replace(/_/g, '/')));
        if (payload.s == site && payload.p.map)
          return {
            ...payload,
            t: token,
            sig: !!parts[1],
            ok: payload.v == 1 && payload.e * 1e3 > Date.now() && !(payload.r < shared.c?.revision)
          };
      } catch (e) {} // no cookie, or not ours: undecided
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

    // Hand the held calls to the running pixel.
    const flushHeld = () => {
      // A throwing pixel call ends up in the caller's catch, never in the page.
      while (pixelRunning && held.length) {
        const [command, ...args] = held.shift();
        pixel[command](...args);
      }
    };

    const startPixel = () =>
      (pixelLoading ||= import(collector + '/pixel/ktra_pixel.js').then((module) =>
        module.default({ module_or_path: collector + '/pixel/ktra_pixel_bg.wasm' }).then(() => (pixel = module))
      ))
        .then((module) => {
          // Also on a running pixel: a new token refreshes its consent.
          if (pixelAllowed) module.start({ endpoint: collector, site, token: grant.t, exp: grant.e }), (pixelRunning = 1);
          flushHeld();
        })
        .catch((e) => warn(e, (pixelLoading = 0)));

    // Apply a decision {p: purposes, sig, t: token, e: expiry} to this page.
    // Only a signed token (sig) starts the pixel.
    const apply = (decision) => {
      granted = OPTIONAL.filter((category) => decision.p.includes(category));
      pixelAllowed = granted[1] ? 1 : 0; // both of them
      consentMode(granted);
      activateCategoryScripts();
      if (pixelAllowed) decision.sig && ((grant = decision), startPixel());
      else if (((held = []), pixelRunning)) {
        pixelRunning = 0;
        shared.v = cookie('ktra_vid'); // stop() deletes it; a withdrawal sends it
        try {
          pixel.stop();
        } catch (e) {}
      }
    };

    const fetchConfig = () =>
      (configLoading ||= fetch(collector + '/v1/config/' + site) // cross-origin: no cookies sent
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then(
          (config) => (shared.c = config),
          (e) => {
            configLoading = 0;
            throw e;
          }
        ));

    // banner.js, inserted with our nonce; it registers itself as `shared.B`.
    const loadBanner = () =>
      (bannerLoading ||= new Promise((resolve, reject) => {
        const script = d.createElement('script');
        script.src = collector + '/banner.js';
        script.nonce = nonce;
        script.onload = () => resolve(shared.B);
        script.onerror = () => reject((bannerLoading = 0)); // the browser logs the failed request
        d.head.append(script);
      }));

    // Call banner.js (loaded on demand). A withdrawal does not wait for the config.
    const callBanner = (method, arg) =>
      (method == 'withdraw' ? loadBanner() : fetchConfig().then(loadBanner)).then((banner) => banner[method](arg)).catch(warn);

    // One ktra(...) call, as an array of its arguments.
    const run = (call) => {
      const [command, arg, source] = call;
      if (command == 'consent') arg == 'withdraw' ? (apply({ p: [] }), callBanner(arg, source)) : callBanner('show');
      // Dropped once the pixel is not allowed; held while undecided.
      else if (/^(track|purchase|identify)$/.test(command) && pixelAllowed !== 0) held.push(call), flushHeld();
    };

    // `ktra._`: see the top of this file for what each field is.
    const shared = {
      s: site,
      u: collector,
      d: readDecision,
      a: (purposes, decision) => (purposes ? apply({ p: purposes }) : (decision = readDecision())?.ok && apply(decision))
    };
    ktra = w.ktra = (...args) => {
      try {
        run(args);
      } catch (e) {
        warn(e);
      }
    };
    ktra._ = shared;

    consentMode();
    d.addEventListener('click', (e) => {
      const trigger = e.target.closest?.('[data-ktra-consent]');
      if (trigger) {
        e.preventDefault();
        ktra('consent', trigger.dataset.ktraConsent, 'settings'); // "withdraw", else show
      }
    });
    d.addEventListener('DOMContentLoaded', activateCategoryScripts);
    activateCategoryScripts(); // `necessary` scripts

    // With the config (or without: it failed), apply the stored decision or ask.
    const boot = () => {
      const decision = readDecision();
      if (decision?.ok) {
        apply(decision);
        // banner.js retries an unsigned (not yet recorded) decision and shows
        // the floating button.
        (decision.sig && !shared.c?.floating_button) || callBanner('init');
      } else shared.c && callBanner('show');
    };
    fetchConfig().then(boot, boot);
    queued.map((args) => ktra(...args));
  } catch (e) {
    warn(e);
  }
})(window, document);
