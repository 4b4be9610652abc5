/* ktra consent banner. Loaded on demand by ktra.js; talks to it through `ktra._`. */
// Text keys (English built in, de, fr and es in text packs: see "Languages"
// below; a site may override any of them per language in its config:
// {"texts": {"de": {"title": "…"}}}; language keys are lower-case BCP 47 tags
// or primary subtags, e.g. "de", "pt-br"):
//   title           dialog heading
//   body            first-layer explanation
//   privacy         link text of the privacy policy (shown when privacy_url is set)
//   gpc             line shown when the browser sends Global Privacy Control
//   accept          "Accept all" button
//   reject          "Reject all" button
//   customize       "Customize" button
//   save            "Save choices" button (Customize view)
//   necessary, necessary_desc   the locked "strictly necessary" category
//   analytics, analytics_desc   the analytics category
//   marketing, marketing_desc   the marketing category
//   always_on       badge next to the locked category
//   close           label of the close button (only when reopening a decision)
//   settings        label of the floating privacy-settings button
//
// (Buttons need no type="button": there is no form in the shadow root.)
//
// Languages: the texts of each shipped language are
// `consent-banner/texts/<lang>.json`. English is built in (the build inlines
// it as `TEXTS_EN`); every other language is a text pack, served as
// `/banner/<lang>.json`: a visitor needs one language, not all of them (1.3
// KB gzipped less for everyone). `TEXT_PACKS`, the languages that have one,
// is defined by the build from those files. Before it registers with the
// loader, the banner fetches the pack of the language it is going to show
// (none for English); without it (an error, or no answer within 3 s) it
// shows the next language that has texts, as if the pack did not exist.
//
// text_hash: hex SHA-256 of the UTF-8 JSON of the texts shown: an object with
// the keys in the order above from title to always_on, where privacy is
// followed by privacy_url (both only when the config has a privacy_url) and gpc
// is present only when the GPC line was shown. Without crypto.subtle (insecure
// context) it is "fnv1a32:" + 8 hex digits of FNV-1a over the same bytes.
//
// Size: banner.js, banner.css and the largest text pack together have a
// hard budget (`ktra_facts::budgets`; `cargo xtask build-web` prints it).
// esbuild renames local variables, so they are named for the reader;
// property names survive minification, so the fields of `ktra._` (shared
// with the loader, see ktra.js), of the consent cookie's payload and of the
// POST body keep their names.
//
// `ktra._` as used here: s site id, u collector URL, c site config, d() the
// decoded cookie ({p: purposes, r: revision, t: raw token, sig, ok}), a(p)
// apply purposes now, a() apply the cookie, v ktra_vid at the last stop;
// B is set below.
((w, d) => {
  const shared = w.ktra?._;
  if (!shared || shared.B) return; // no loader, or loaded twice
  const BOTH = ['analytics', 'marketing'];
  const GPC = navigator.globalPrivacyControl === true;
  // consent-banner/texts/en.json, inlined by the build: the texts every
  // other language falls back to, key by key.
  const ENGLISH = TEXTS_EN;

  const warn = (e) => console.warn('ktra:', e);
  const config = () => shared.c || {}; // empty until the loader has fetched it
  const utf8 = (s) => new TextEncoder().encode(s);
  const packs = {}; // the text packs fetched, by language

  // The first language that `hasTexts`: of <html lang>, the collector's
  // choice among the site's languages by Accept-Language (`language`), the
  // site default and en (the full tag first, then its primary subtag).
  const pickLanguage = (hasTexts) => {
    const site = config();
    for (const tag of [d.documentElement.lang, site.language, site.default_language, 'en']) {
      const full = (tag || '').toLowerCase();
      for (const lang of [full, full.split('-')[0]]) if (lang == 'en' || hasTexts(lang)) return lang;
    }
  };
  // The texts to show, as {language, text: text by key}: in the first
  // language with texts, built in, fetched or configured. Configured texts
  // override the others key by key; English fills the gaps.
  const texts = (configured = config().texts || {}) => {
    const language = pickLanguage((lang) => packs[lang] || configured[lang]);
    return { language, text: { ...ENGLISH, ...packs[language], ...configured[language] } };
  };
  // The pack of the language about to be shown, if it has one (`TEXT_PACKS`
  // holds only plain language tags: nothing from the page reaches the URL).
  const packLanguage = pickLanguage((lang) => TEXT_PACKS.includes(lang) || config().texts?.[lang]);
  const packLoaded =
    TEXT_PACKS.includes(packLanguage) &&
    Promise.race([
      fetch(shared.u + '/banner/' + packLanguage + '.json', { credentials: 'omit' })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((pack) => (packs[packLanguage] = pack), warn),
      new Promise((resolve) => setTimeout(resolve, 3e3))
    ]);
  // As configured (relative to the page is fine) if it resolves to http(s).
  const privacyUrl = (url = config().privacy_url) => {
    try {
      return url && /^https?:$/.test(new URL(url, location.href).protocol) ? url : '';
    } catch (e) {}
  };
  // text_hash (see the top of this file) of the texts `shown`.
  const hash = (shown) => {
    const hashed = {}, url = privacyUrl();
    for (const key of Object.keys(ENGLISH).slice(0, -2)) // all but close, settings
      if (key == 'privacy') url && ((hashed[key] = shown.text[key]), (hashed.privacy_url = url));
      else if (key != 'gpc' || GPC) hashed[key] = shown.text[key];
    const bytes = utf8(JSON.stringify(hashed));
    return Promise.resolve()
      .then(() => crypto.subtle.digest('SHA-256', bytes)) // throws without crypto.subtle
      .then(
        // Each byte as two hex digits: 256 + byte has three, the first is dropped.
        (digest) => [...new Uint8Array(digest)].map((byte) => (byte + 256).toString(16).slice(1)).join(''),
        // FNV-1a 32 (offset basis 0x811c9dc5, prime 16777619), as 8 hex digits
        // the same way (2 ** 32 + hash has nine).
        () => 'fnv1a32:' + (bytes.reduce((h, byte) => Math.imul(h ^ byte, 16777619) >>> 0, 0x811c9dc5) + 2 ** 32).toString(16).slice(1)
      );
  };

  // DOM helper: el('p', {class: 'x', 'aria-x': 'y', hidden: true}, 'text', child, ...).
  // Keys that are element properties are set as such, others as attributes;
  // false children (a condition that did not hold) are left out.
  const el = (tag, props, ...children) => {
    const element = d.createElement(tag);
    for (const key in props) key in element ? (element[key] = props[key]) : element.setAttribute(key, props[key]);
    element.append(...children.filter((child) => child));
    return element;
  };

  // ---- cookies and storage -------------------------------------------------
  const setCookie = (value, maxAge) =>
    (d.cookie = `ktra_consent=${value}; Path=/; Max-Age=${maxAge}; SameSite=Lax` + (location.protocol == 'https:' ? '; Secure' : ''));
  // Delete the pixel's cookies: host-only, then with Domain= the host and
  // each parent domain (a cookie is only deleted with the Domain it was set with).
  const deletePixelCookies = () => {
    const labels = location.hostname.split('.');
    for (const name of ['ktra_vid', 'ktra_sid'])
      for (let i = 0; i < labels.length; i++)
        d.cookie = `${name}=; Max-Age=0; Path=/` + (i ? '; Domain=' + labels.slice(i - 1).join('.') : '');
  };
  // The POST body of a decision not recorded yet, kept for the next page; none: forget it.
  const keepForRetry = (body) => {
    try {
      body ? localStorage.setItem('ktra_retry', JSON.stringify(body)) : localStorage.removeItem('ktra_retry');
    } catch (e) {} // storage off: this page still retries
  };

  // ---- recording decisions --------------------------------------------------
  // POSTs run one after the other. Only the latest decision (`latest`) may set
  // the cookie and change the page; an older one that succeeds late only
  // becomes the `previous` of the next. A decision that could not be sent
  // stays in localStorage (`ktra_retry`) and is retried on this page (backoff,
  // `online`) and by the next one, where the loader sees the unsigned record
  // and calls init().
  let latest = 0; // number of the latest decision on this page
  let queue = Promise.resolve(); // the POSTs, one after the other
  let lastToken; // the signed token of the last decision recorded from this page
  let unsent; // the body of the latest decision while it waits for a retry
  let retryTimer;
  let retries = 0;
  const record = (body, number) =>
    (queue = queue.then(() => {
      if (number != latest) return; // superseded before it was sent
      if (lastToken) body.previous = lastToken;
      return fetch(shared.u + '/v1/consent', {
        method: 'POST',
        credentials: 'omit',
        keepalive: true, // a click followed by navigation still arrives
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, // no CORS preflight
        body: JSON.stringify(body)
      })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then(
          (answer) => {
            lastToken = answer.token;
            if (number == latest) {
              keepForRetry();
              setCookie(lastToken, answer.max_age);
              shared.a(); // a signed grant starts the pixel
              showFloatingButton();
            }
          },
          (status) => {
            if (number != latest) return;
            if (status >= 400 && status < 500 && status != 408 && status != 429) {
              warn(status); // rejected: retrying will not help; the local record stays
              keepForRetry();
            } else if (retries < 4) retryTimer = setTimeout(retryNow, 2e3 * 4 ** retries++, (unsent = body)); // 2, 8, 32, 128 s
          }
        );
    }).catch(warn)); // keep the queue alive
  const retryNow = (body = unsent) => {
    unsent = 0;
    clearTimeout(retryTimer);
    body && record(body, latest);
  };
  w.addEventListener('online', () => retryNow());

  // Record a decision: apply it to the page at once, keep it as an unsigned
  // local record (payload + "." with no signature: it never starts the pixel),
  // POST it, and replace the record with the signed token from the response.
  //
  // action: "grant" when both optional purposes are granted; "change" for a
  // partial choice; with nothing granted, "withdraw" when the decision in
  // force granted both (the pixel was allowed: its data may be erased) or via
  // ktra('consent','withdraw'), else "deny". Saving the decision in force
  // sends nothing. Whenever the pixel is no longer allowed it is stopped and
  // its cookies are deleted.
  const decide = (purposes, source, action) => {
    const site = config(), current = shared.d(), shown = texts();
    const lifetime = (site.lifetime_days || 182) * 86400; // seconds
    const revision = site.revision ?? current?.r ?? 0;
    const wasGranted = (purpose) => current?.ok && current.p.includes(purpose);
    const vid = d.cookie.match(/(?:^|;\s*)ktra_vid=([^;]*)/)?.[1] || shared.v; // before stop() deletes it
    if (!action) {
      if (current?.ok && purposes + '' == BOTH.filter(wasGranted) + '') return;
      action = purposes[1] ? 'grant' : purposes[0] ? 'change' : BOTH.every(wasGranted) ? 'withdraw' : 'deny';
    }
    const number = ++latest;
    const body = {
      site: shared.s,
      action,
      source,
      granted: purposes,
      denied: BOTH.filter((purpose) => !purposes.includes(purpose)),
      revision,
      language: shown.language,
      gpc: GPC,
      // Names this decision for good: a retry after a lost answer is recorded once.
      decision_id: crypto.randomUUID?.()
    };
    // Proof of who is deciding: the collector revokes (and erases) only that token's chain.
    if (current?.sig) body.previous = current.t;
    unsent = retries = 0;
    clearTimeout(retryTimer);
    if (action == 'withdraw') body.vid = vid;
    shared.a(purposes); // at once; stops the pixel unless both are granted
    purposes[1] || deletePixelCookies();
    // The unsigned local record: the cookie's payload (see ktra.js) with no consent id yet.
    const payload = { v: 1, c: '', s: shared.s, p: purposes, r: revision, e: ((Date.now() / 1e3) | 0) + lifetime };
    // base64url of its JSON, without padding; "." and no signature.
    setCookie(btoa(String.fromCharCode(...utf8(JSON.stringify(payload)))).replace(/[+/=]/g, (c) => ({ '+': '-', '/': '_' })[c] || '') + '.', lifetime);
    hash(shown).then((textHash) => {
      body.text_hash = textHash;
      if (number == latest) keepForRetry(body);
      record(body, number);
    });
    showFloatingButton();
  };

  // ---- the dialog -------------------------------------------------------------
  // One host element with a shadow root: page CSS does not reach in, ours does
  // not leak out. Hidden until the stylesheet has loaded (no unstyled flash),
  // then `display: contents`: the host itself never makes a box, whatever the
  // page's rules for divs say (inline style, set through CSSOM: CSP-safe).
  const host = el('div', { class: 'ktra-root' });
  const root = host.attachShadow({ mode: 'open' });
  const css = el('link', { rel: 'stylesheet', href: shared.u + '/banner.css' });
  const styled = new Promise((resolve) => (css.onload = css.onerror = resolve)).then(() => (host.style.display = 'contents'));
  host.style.display = 'none';
  root.append(css);
  (d.body || d.documentElement).append(host);

  let isOpen; // the dialog is shown
  let dialog, backdrop;
  let floatingButton; // created the first time it is needed
  let focusBefore; // where focus was when the dialog opened: it goes back there
  let firstDecision; // no valid decision existed when the dialog opened
  let notice; // the dialog is the notice form of an opt_out region (not modal)
  let source; // `source` of a decision made in this dialog: banner or settings
  let categories; // the Customize view's switches
  let buttons; // the dialog's buttons by text key
  const byId = (id) => root.getElementById(id);
  const close = () => {
    if (!isOpen) return;
    isOpen = 0;
    dialog.remove();
    backdrop.remove();
    showFloatingButton();
    focusBefore?.isConnected && focusBefore.focus(); // back to where the visitor was
  };
  // The first layer (Accept all, Reject all, Customize) or Customize (the
  // switches; Save choices instead of Customize).
  const showLayer = (customize) => {
    categories.hidden = buttons.save.hidden = !customize;
    buttons.customize.hidden = customize;
    (customize ? byId('ktra-analytics') : buttons.customize).focus();
  };

  const show = () => {
    if (isOpen) return dialog.focus();
    let current = shared.d(), { language, text } = texts(), url = privacyUrl();
    firstDecision = !current?.ok;
    // Where the collector says consent is implied (`implied`: an opt_out or
    // none region), not refusing is the decision: recorded at once as a
    // `notice` grant, or with GPC as a refusal. opt_out shows the notice
    // form (the config's texts: a visible "do not sell or share"), which can
    // be closed like a reopened banner; none shows nothing.
    if ((notice = firstDecision && config().implied)) {
      decide(GPC ? [] : BOTH, GPC ? 'gpc' : 'notice');
      if (config().model == 'none') return;
      current = shared.d();
      firstDecision = 0;
    }
    source = firstDecision ? 'banner' : 'settings';
    focusBefore = d.activeElement == host ? root.activeElement : d.activeElement;
    buttons = {};
    // The action is the text key, in data-a (read back by the click handler, and by tests).
    const button = (key) => (buttons[key] = el('button', { class: 'ktra-btn', part: 'button', 'data-a': key }, text[key]));
    const category = (key, locked) =>
      el(
        'div',
        { class: 'ktra-cat' },
        el('label', { class: 'ktra-name', htmlFor: 'ktra-' + key }, text[key], locked && el('span', { class: 'ktra-badge' }, text.always_on)),
        el('input', {
          type: 'checkbox',
          id: 'ktra-' + key,
          class: 'ktra-switch',
          // Nothing pre-ticked; a reopened banner shows the decision in force.
          checked: !!locked || (!firstDecision && current.p.includes(key)),
          disabled: !!locked,
          'aria-describedby': `ktra-${key}-d`
        }),
        el('p', { id: `ktra-${key}-d`, class: 'ktra-desc' }, text[key + '_desc'])
      );
    backdrop = el('div', { class: notice ? '' : 'ktra-backdrop' });
    dialog = el(
      'div',
      {
        class: 'ktra-dialog',
        part: 'dialog',
        role: 'dialog',
        'aria-modal': !notice,
        'aria-labelledby': 'ktra-title',
        'aria-describedby': 'ktra-text',
        tabindex: '-1',
        lang: language
      },
      // A reopened banner may be closed without a new choice; a first one may not.
      !firstDecision && el('button', { class: 'ktra-x', 'data-a': 'x', 'aria-label': text.close }, '×'),
      el('h2', { id: 'ktra-title', class: 'ktra-title' }, text.title),
      el('div', { id: 'ktra-text' },
        el('p', { class: 'ktra-text' }, text.body, url && ' ', url && el('a', { href: url, target: '_blank' }, text.privacy)),
        GPC && el('p', { class: 'ktra-gpc' }, text.gpc)
      ),
      (categories = el('div', { class: 'ktra-cats', hidden: true }, category('necessary', 1), category('analytics'), category('marketing'))),
      el('div', { class: 'ktra-actions' }, button('accept'), button('reject'), button('customize'), button('save'))
    );
    buttons.save.hidden = true;
    dialog.onclick = (e) => {
      const action = e.target.closest('[data-a]')?.getAttribute('data-a');
      if (action == 'customize') showLayer(1);
      else if (action == 'x') close();
      else if (action) {
        // accept, reject or save
        const purposes = action == 'accept' ? BOTH : action == 'reject' ? [] : BOTH.filter((key) => byId('ktra-' + key).checked);
        close();
        decide([...purposes], source);
      }
    };
    dialog.onkeydown = (e) => {
      if (e.key == 'Escape') {
        // Never a choice: collapse Customize, or close a reopened banner.
        categories.hidden ? firstDecision || close() : showLayer(0);
      } else if (e.key == 'Tab') {
        // Focus trap: wrap around at both ends.
        const focusable = [...dialog.querySelectorAll('button,a,input:enabled')].filter((x) => x.getClientRects().length);
        const index = focusable.indexOf(root.activeElement);
        if (e.shiftKey ? index < 1 : index == focusable.length - 1)
          e.preventDefault(), focusable[e.shiftKey ? focusable.length - 1 : 0].focus();
      }
    };
    if (floatingButton) floatingButton.hidden = true;
    host.isConnected || d.body.append(host); // an SPA may have replaced <body>
    root.append(backdrop, dialog);
    isOpen = 1;
    styled.then(() => isOpen && dialog.focus());
  };
  // Keep focus inside while open (e.g. focus moved by a page script).
  d.addEventListener('focusin', (e) => isOpen && !notice && e.target != host && dialog.focus());

  // Floating button that reopens the banner, once a decision exists.
  const showFloatingButton = () => {
    if (!config().floating_button || isOpen || !shared.d()?.ok) return;
    if (!floatingButton) {
      const label = texts().text.settings;
      floatingButton = el('button', { class: 'ktra-fab', part: 'fab', title: label, 'aria-label': label }); // icon drawn in CSS
      floatingButton.onclick = show;
      root.append(floatingButton);
    }
    floatingButton.hidden = false;
  };

  // What the loader calls (see ktra.js), once the texts are there: the
  // loader resolves its banner promise with `ktra._.B`, which adopts this one.
  const api = {
    show,
    withdraw: (source = 'api') => {
      close();
      decide([], source, 'withdraw');
    },
    // Called by the loader on a page where a decision exists: retry one that
    // was not recorded yet, show the floating button (or ask again, below).
    init: () => {
      try {
        const body = JSON.parse(localStorage.getItem('ktra_retry'));
        body?.site == shared.s && !shared.d()?.sig && record(body, ++latest);
      } catch (e) {}
      // Consent implied by an opt_out notice (`i` in the token) where the
      // collector now requires a grant (the visitor travelled, the rule
      // changed): it is no consent here, so stop and ask afresh.
      shared.d()?.i && !config().implied ? (setCookie('', 0), shared.a([]), deletePixelCookies(), show()) : showFloatingButton();
    }
  };
  shared.B = Promise.resolve(packLoaded).then(() => api);
})(window, document);
