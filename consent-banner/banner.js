/* ktra consent banner. Loaded on demand by ktra.js; talks to it through `ktra._`. */
// Text keys (built in for en, de, fr, es; a site may override any of them per
// language in its config: {"texts": {"de": {"title": "…"}}}; language keys are
// lower-case BCP 47 tags or primary subtags, e.g. "de", "pt-br"):
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
// text_hash: hex SHA-256 of the UTF-8 JSON of the texts shown: an object with
// the keys in the order above from title to always_on, where privacy is
// followed by privacy_url (both only when the config has a privacy_url) and gpc
// is present only when the GPC line was shown. Without crypto.subtle (insecure
// context) it is "fnv1a32:" + 8 hex digits of FNV-1a over the same bytes.
((w, d) => {
  const I = w.ktra?._;
  if (!I || I.B) return;
  const BOTH = ['analytics', 'marketing'];
  const GPC = navigator.globalPrivacyControl === true;
  const L = {
    en: {
      title: 'Your privacy choices',
      body: 'We would like to measure how this site is used (analytics) and which emails and campaigns lead to visits and purchases (marketing). Both stay off unless you allow them, and you can change your mind at any time.',
      privacy: 'Privacy policy',
      gpc: 'Your browser sent a Global Privacy Control signal, so marketing is off unless you turn it on.',
      accept: 'Accept all',
      reject: 'Reject all',
      customize: 'Customize',
      save: 'Save choices',
      necessary: 'Strictly necessary',
      necessary_desc: 'Needed for the site to work and to remember your choice.',
      analytics: 'Analytics',
      analytics_desc: 'Counts visits and measures how pages are used (scroll depth, time on page).',
      marketing: 'Marketing',
      marketing_desc: 'Links visits to our emails and campaigns and measures purchases, using a visitor cookie.',
      always_on: 'Always on',
      close: 'Close',
      settings: 'Privacy settings'
    },
    de: {
      title: 'Ihre Datenschutz-Einstellungen',
      body: 'Wir möchten messen, wie diese Website genutzt wird (Analyse) und welche E-Mails und Kampagnen zu Besuchen und Käufen führen (Marketing). Beides bleibt aus, solange Sie nicht zustimmen, und Sie können Ihre Wahl jederzeit ändern.',
      privacy: 'Datenschutzerklärung',
      gpc: 'Ihr Browser hat ein Global-Privacy-Control-Signal gesendet. Marketing bleibt daher aus, sofern Sie es nicht einschalten.',
      accept: 'Alle akzeptieren',
      reject: 'Alle ablehnen',
      customize: 'Anpassen',
      save: 'Auswahl speichern',
      necessary: 'Unbedingt erforderlich',
      necessary_desc: 'Für den Betrieb der Website und zum Speichern Ihrer Wahl nötig.',
      analytics: 'Analyse',
      analytics_desc: 'Zählt Besuche und misst, wie Seiten genutzt werden (Scrolltiefe, Verweildauer).',
      marketing: 'Marketing',
      marketing_desc: 'Verknüpft Besuche mit unseren E-Mails und Kampagnen und misst Käufe – mit einem Besucher-Cookie.',
      always_on: 'Immer aktiv',
      close: 'Schließen',
      settings: 'Datenschutz-Einstellungen'
    },
    fr: {
      title: 'Vos choix de confidentialité',
      body: "Nous souhaitons mesurer l'utilisation de ce site (audience) et savoir quels e-mails et campagnes mènent à des visites et à des achats (marketing). Les deux restent désactivés sans votre accord, et vous pouvez changer d'avis à tout moment.",
      privacy: 'Politique de confidentialité',
      gpc: 'Votre navigateur a envoyé un signal Global Privacy Control : le marketing reste désactivé, sauf si vous l’activez.',
      accept: 'Tout accepter',
      reject: 'Tout refuser',
      customize: 'Personnaliser',
      save: 'Enregistrer mes choix',
      necessary: 'Strictement nécessaires',
      necessary_desc: 'Indispensables au site et pour mémoriser votre choix.',
      analytics: "Mesure d'audience",
      analytics_desc: 'Compte les visites et mesure l’utilisation des pages (défilement, temps passé).',
      marketing: 'Marketing',
      marketing_desc: 'Relie les visites à nos e-mails et campagnes et mesure les achats, à l’aide d’un cookie visiteur.',
      always_on: 'Toujours actifs',
      close: 'Fermer',
      settings: 'Paramètres de confidentialité'
    },
    es: {
      title: 'Tus opciones de privacidad',
      body: 'Queremos medir cómo se usa este sitio (analítica) y qué correos y campañas generan visitas y compras (marketing). Ambas permanecen desactivadas salvo que las permitas, y puedes cambiar de opinión en cualquier momento.',
      privacy: 'Política de privacidad',
      gpc: 'Tu navegador envió una señal Global Privacy Control, así que el marketing queda desactivado salvo que lo actives.',
      accept: 'Aceptar todo',
      reject: 'Rechazar todo',
      customize: 'Personalizar',
      save: 'Guardar selección',
      necessary: 'Estrictamente necesarias',
      necessary_desc: 'Imprescindibles para que el sitio funcione y para recordar tu elección.',
      analytics: 'Analítica',
      analytics_desc: 'Cuenta las visitas y mide cómo se usan las páginas (desplazamiento, tiempo en la página).',
      marketing: 'Marketing',
      marketing_desc: 'Relaciona las visitas con nuestros correos y campañas y mide las compras con una cookie de visitante.',
      always_on: 'Siempre activas',
      close: 'Cerrar',
      settings: 'Configuración de privacidad'
    }
  };

  const warn = (e) => console.warn('ktra:', e);
  const cfg = () => I.c || {};
  const u8 = (s) => new TextEncoder().encode(s);

  // Language: <html lang>, else the browser's, else the site default, else en.
  const texts = () => {
    const c = cfg(), T = c.texts || {};
    for (const v of [d.documentElement.lang, navigator.language, c.default_language, 'en']) {
      const x = (v || '').toLowerCase();
      for (const y of [x, x.split('-')[0]]) if (L[y] || T[y]) return { l: y, t: { ...L.en, ...L[y], ...T[y] } };
    }
  };
  // As configured (relative to the page is fine) if it resolves to http(s).
  const privacyUrl = (u = cfg().privacy_url) => {
    try {
      return u && /^https?:$/.test(new URL(u, location.href).protocol) ? u : '';
    } catch (e) {}
  };
  const hash = (tx) => {
    const o = {}, u = privacyUrl();
    for (const k of Object.keys(L.en).slice(0, -2)) // all but close, settings
      if (k == 'privacy') u && ((o[k] = tx.t[k]), (o.privacy_url = u));
      else if (k != 'gpc' || GPC) o[k] = tx.t[k];
    const b = u8(JSON.stringify(o));
    return Promise.resolve()
      .then(() => crypto.subtle.digest('SHA-256', b))
      .then(
        (h) => [...new Uint8Array(h)].map((x) => (x + 256).toString(16).slice(1)).join(''),
        () => 'fnv1a32:' + (b.reduce((x, c) => Math.imul(x ^ c, 16777619) >>> 0, 0x811c9dc5) + 2 ** 32).toString(16).slice(1)
      );
  };

  // DOM helper: h('p', {class: 'x', 'aria-x': 'y', hidden: true}, 'text', child, ...).
  // Keys that are element properties are set as such, others as attributes.
  const h = (tag, props, ...kids) => {
    const e = d.createElement(tag);
    for (const k in props) k in e ? (e[k] = props[k]) : e.setAttribute(k, props[k]);
    e.append(...kids.filter((c) => c));
    return e;
  };

  // ---- cookies and storage -------------------------------------------------
  const setCookie = (v, age) =>
    (d.cookie = `ktra_consent=${v}; Path=/; Max-Age=${age}; SameSite=Lax` + (location.protocol == 'https:' ? '; Secure' : ''));
  // Delete the pixel's cookies for this host and each parent domain.
  const wipe = () => {
    const p = location.hostname.split('.');
    for (const n of ['ktra_vid', 'ktra_sid'])
      for (let i = 0; i < p.length; i++)
        d.cookie = `${n}=; Max-Age=0; Path=/` + (i ? '; Domain=' + p.slice(i - 1).join('.') : '');
  };
  const store = (v) => {
    try {
      v ? localStorage.setItem('ktra_retry', JSON.stringify(v)) : localStorage.removeItem('ktra_retry');
    } catch (e) {}
  };

  // ---- recording decisions --------------------------------------------------
  // POSTs run one after the other. Only the latest decision (`seq`) may set the
  // cookie and change the page; an older one that succeeds late only becomes
  // the `previous` of the next. A decision that could not be sent stays in
  // localStorage (`ktra_retry`) and is retried on this page (backoff, `online`)
  // and by the next one, where the loader sees the unsigned record and calls init().
  let seq = 0, chain = Promise.resolve(), tok, failed, timer, tries = 0;
  const post = (body, n) =>
    (chain = chain.then(() => {
      if (n != seq) return; // superseded before it was sent
      if (tok) body.previous = tok;
      return fetch(I.u + '/v1/consent', {
        method: 'POST',
        credentials: 'omit',
        keepalive: true,
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
        body: JSON.stringify(body)
      })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then(
          (j) => {
            tok = j.token;
            if (n == seq) {
              store();
              setCookie(tok, j.max_age);
              I.a(); // a signed grant starts the pixel
              fab();
            }
          },
          (e) => {
            if (n != seq) return;
            if (e >= 400 && e < 500 && e != 408 && e != 429) {
              warn(e); // rejected: retrying will not help; the local record stays
              store();
            } else if (tries < 4) timer = setTimeout(again, 2e3 * 4 ** tries++, (failed = body));
          }
        );
    }).catch(warn)); // keep the chain alive
  const again = (b = failed) => {
    failed = 0;
    clearTimeout(timer);
    b && post(b, seq);
  };
  w.addEventListener('online', () => again());

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
  const decide = (p, source, action) => {
    const c = cfg(), cur = I.d(), tx = texts();
    const life = (c.lifetime_days || 182) * 86400;
    const revision = c.revision ?? cur?.r ?? 0;
    const had = (k) => cur?.ok && cur.p.includes(k);
    const vid = d.cookie.match(/(?:^|;\s*)ktra_vid=([^;]*)/)?.[1] || I.v; // before stop() deletes it
    if (!action) {
      if (cur?.ok && p + '' == BOTH.filter(had) + '') return;
      action = p[1] ? 'grant' : p[0] ? 'change' : BOTH.every(had) ? 'withdraw' : 'deny';
    }
    const n = ++seq;
    const body = {
      site: I.s,
      action,
      source,
      granted: p,
      denied: BOTH.filter((k) => !p.includes(k)),
      revision,
      language: tx.l,
      gpc: GPC,
      // Names this decision for good: a retry after a lost answer is recorded once.
      decision_id: crypto.randomUUID?.()
    };
    if (cur?.sig) body.previous = cur.t;
    failed = tries = 0;
    clearTimeout(timer);
    if (action == 'withdraw') body.vid = vid;
    I.a(p); // at once; stops the pixel unless both are granted
    p[1] || wipe();
    const payload = { v: 1, c: '', s: I.s, p, r: revision, e: ((Date.now() / 1e3) | 0) + life };
    setCookie(btoa(String.fromCharCode(...u8(JSON.stringify(payload)))).replace(/[+/=]/g, (m) => ({ '+': '-', '/': '_' })[m] || '') + '.', life);
    hash(tx).then((x) => {
      body.text_hash = x;
      if (n == seq) store(body);
      post(body, n);
    });
    fab();
  };

  // ---- the dialog -------------------------------------------------------------
  // One host element with a shadow root: page CSS does not reach in, ours does
  // not leak out. Hidden until the stylesheet has loaded (no unstyled flash),
  // then `display: contents`: the host itself never makes a box, whatever the
  // page's rules for divs say (inline style, set through CSSOM: CSP-safe).
  const host = h('div', { class: 'ktra-root' });
  const root = host.attachShadow({ mode: 'open' });
  const css = h('link', { rel: 'stylesheet', href: I.u + '/banner.css' });
  const ready = new Promise((r) => (css.onload = css.onerror = r)).then(() => (host.style.display = 'contents'));
  host.style.display = 'none';
  root.append(css);
  (d.body || d.documentElement).append(host);

  let open, dlg, back, fb, before, first, source, cats, btn;
  const $ = (id) => root.getElementById(id);
  const close = () => {
    if (!open) return;
    open = 0;
    dlg.remove();
    back.remove();
    fab();
    before?.isConnected && before.focus(); // back to where the visitor was
  };
  const layer = (custom) => {
    cats.hidden = btn.save.hidden = !custom;
    btn.customize.hidden = custom;
    (custom ? $('ktra-analytics') : btn.customize).focus();
  };

  const show = () => {
    if (open) return dlg.focus();
    const cur = I.d(), { l, t } = texts(), url = privacyUrl();
    first = !cur?.ok;
    source = first ? 'banner' : 'settings';
    before = d.activeElement == host ? root.activeElement : d.activeElement;
    btn = {};
    const b = (k) => (btn[k] = h('button', { class: 'ktra-btn', part: 'button', 'data-a': k }, t[k]));
    const cat = (k, locked) =>
      h(
        'div',
        { class: 'ktra-cat' },
        h('label', { class: 'ktra-name', htmlFor: 'ktra-' + k }, t[k], locked && h('span', { class: 'ktra-badge' }, t.always_on)),
        h('input', {
          type: 'checkbox',
          id: 'ktra-' + k,
          class: 'ktra-switch',
          checked: !!locked || (!first && cur.p.includes(k)),
          disabled: !!locked,
          'aria-describedby': `ktra-${k}-d`
        }),
        h('p', { id: `ktra-${k}-d`, class: 'ktra-desc' }, t[k + '_desc'])
      );
    back = h('div', { class: 'ktra-backdrop' });
    dlg = h(
      'div',
      {
        class: 'ktra-dialog',
        part: 'dialog',
        role: 'dialog',
        'aria-modal': 'true',
        'aria-labelledby': 'ktra-title',
        'aria-describedby': 'ktra-text',
        tabindex: '-1',
        lang: l
      },
      // A reopened banner may be closed without a new choice; a first one may not.
      !first && h('button', { class: 'ktra-x', 'data-a': 'x', 'aria-label': t.close }, '×'),
      h('h2', { id: 'ktra-title', class: 'ktra-title' }, t.title),
      h('div', { id: 'ktra-text' },
        h('p', { class: 'ktra-text' }, t.body, url && ' ', url && h('a', { href: url, target: '_blank' }, t.privacy)),
        GPC && h('p', { class: 'ktra-gpc' }, t.gpc)
      ),
      (cats = h('div', { class: 'ktra-cats', hidden: true }, cat('necessary', 1), cat('analytics'), cat('marketing'))),
      h('div', { class: 'ktra-actions' }, b('accept'), b('reject'), b('customize'), b('save'))
    );
    btn.save.hidden = true;
    dlg.onclick = (e) => {
      const a = e.target.closest('[data-a]')?.getAttribute('data-a');
      if (a == 'customize') layer(1);
      else if (a == 'x') close();
      else if (a) {
        const p = a == 'accept' ? BOTH : a == 'reject' ? [] : BOTH.filter((k) => $('ktra-' + k).checked);
        close();
        decide([...p], source);
      }
    };
    dlg.onkeydown = (e) => {
      if (e.key == 'Escape') {
        // Never a choice: collapse Customize, or close a reopened banner.
        cats.hidden ? first || close() : layer(0);
      } else if (e.key == 'Tab') {
        // Focus trap: wrap around at both ends.
        const f = [...dlg.querySelectorAll('button,a,input:enabled')].filter((x) => x.getClientRects().length);
        const i = f.indexOf(root.activeElement);
        if (e.shiftKey ? i < 1 : i == f.length - 1) e.preventDefault(), f[e.shiftKey ? f.length - 1 : 0].focus();
      }
    };
    if (fb) fb.hidden = true;
    host.isConnected || d.body.append(host); // an SPA may have replaced <body>
    root.append(back, dlg);
    open = 1;
    ready.then(() => open && dlg.focus());
  };
  // Keep focus inside while open (e.g. focus moved by a page script).
  d.addEventListener('focusin', (e) => open && e.target != host && dlg.focus());

  // Floating button that reopens the banner, once a decision exists.
  const fab = () => {
    if (!cfg().floating_button || open || !I.d()?.ok) return;
    if (!fb) {
      const label = texts().t.settings;
      fb = h('button', { class: 'ktra-fab', part: 'fab', title: label, 'aria-label': label }); // icon drawn in CSS
      fb.onclick = show;
      root.append(fb);
    }
    fb.hidden = false;
  };

  I.B = {
    show,
    withdraw: (source = 'api') => {
      close();
      decide([], source, 'withdraw');
    },
    // Called by the loader on a page where a decision exists: retry one that
    // was not recorded yet, show the floating button.
    init: () => {
      try {
        const x = JSON.parse(localStorage.getItem('ktra_retry'));
        x?.site == I.s && !I.d()?.sig && post(x, ++seq);
      } catch (e) {}
      fab();
    }
  };
})(window, document);
