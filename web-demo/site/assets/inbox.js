/* The demo inbox: lists the messages of inbox.json (signed tracking links,
 * written by `cargo xtask demo`) or, without it, of inbox.spec.json (links
 * untracked, with a note). Opening a message loads its open pixel once per
 * page, as a mail client that shows images would. */
(function () {
  'use strict';
  var list = document.getElementById('inbox-list');
  var reader = document.getElementById('reader');
  var opened = {};

  function load(url) {
    return fetch(url, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(url + ': ' + r.status);
      return r.json();
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function show(m, button, tracked) {
    list.querySelectorAll('.inbox-item').forEach(function (b) { b.setAttribute('aria-selected', String(b === button)); });
    button.classList.remove('unread');
    reader.textContent = '';
    reader.dataset.messageId = m.message;
    var h = el('h2', null, m.subject);
    h.setAttribute('data-testid', 'reader-subject');
    reader.appendChild(h);
    var meta = el('div', 'meta');
    meta.appendChild(el('div', null, 'From: ' + m.from + ' <' + m.from_email + '>'));
    meta.appendChild(el('div', null, 'To: ' + m.to + ' · ' + m.date));
    reader.appendChild(meta);

    var body = el('div', 'email-body');
    var hero = el('div', 'email-hero');
    hero.appendChild(el('h3', null, m.heading));
    hero.appendChild(el('p', null, m.preheader));
    body.appendChild(hero);
    (m.paragraphs || []).forEach(function (p) { body.appendChild(el('p', null, p)); });
    var links = el('div', 'email-links');
    (m.links || []).forEach(function (l, i) {
      var a = el('a', i === 0 ? 'btn' : 'secondary-link', l.label + (i === 0 ? '' : ' →'));
      a.href = l.click_url || l.path;
      a.dataset.testid = 'email-link';
      a.dataset.linkId = l.id;
      a.dataset.messageId = m.message;
      a.dataset.tracked = String(Boolean(l.click_url));
      links.appendChild(a);
    });
    body.appendChild(links);
    body.appendChild(el('p', 'small muted', 'Larkspur & Co. · 12 Riverside Lane · You are receiving this because you subscribed.'));
    reader.appendChild(body);

    var note = el('p', 'tracking-note');
    if (tracked) {
      note.textContent = 'Tracking: the buttons go through the collector (' + new URL(m.links[0].click_url).origin +
        '/c/…), which records the click and redirects to the shop. Opening this message loaded its 1×1 open pixel.';
    } else {
      note.textContent = 'Untracked: no signed links (inbox.json is missing).';
    }
    reader.appendChild(note);

    if (m.open_url && !opened[m.message]) {
      opened[m.message] = true;
      var img = new Image(1, 1);
      img.alt = '';
      img.className = 'open-pixel';
      img.dataset.testid = 'open-pixel';
      img.style.cssText = 'position:absolute;width:1px;height:1px;opacity:0';
      img.src = m.open_url;
      reader.appendChild(img);
    }
  }

  function render(data, tracked) {
    document.getElementById('inbox-missing').hidden = tracked;
    list.dataset.tracked = String(tracked);
    (data.messages || []).forEach(function (m) {
      var b = el('button', 'inbox-item unread');
      b.type = 'button';
      b.setAttribute('role', 'option');
      b.setAttribute('aria-selected', 'false');
      b.dataset.testid = 'inbox-message';
      b.dataset.messageId = m.message;
      var from = el('span', 'from', m.from);
      from.appendChild(el('time', null, m.date));
      b.appendChild(from);
      b.appendChild(el('div', 'subject', m.subject));
      b.appendChild(el('div', 'preview', m.preheader));
      b.addEventListener('click', function () { show(m, b, tracked); });
      list.appendChild(b);
    });
    list.dataset.ready = 'true';
  }

  load('inbox.json')
    .then(function (d) {
      var ok = d && d.messages && d.messages.length && d.messages.every(function (m) {
        return m.open_url && (m.links || []).every(function (l) { return l.click_url; });
      });
      if (!ok) throw new Error('inbox.json has no signed links');
      render(d, true);
    })
    .catch(function () {
      return load('inbox.spec.json').then(function (d) { render(d, false); });
    })
    .catch(function (e) {
      document.getElementById('inbox-missing').hidden = false;
      list.appendChild(el('p', 'muted small', 'No messages: ' + e.message));
    });
})();
