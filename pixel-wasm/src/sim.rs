//! The whole pixel on a simulated page: native, deterministic scenario tests
//! of [`crate::pixel::on_event`] with a fake clock.
//!
//! [`Sim`] is a page implementing [`Host`] the way `src/web/host.js` does
//! (cookie jar with `Max-Age`, `localStorage`, `URLSearchParams`, the
//! `ktra_ec` strip, timers, `fetch` that settles only when a test says so,
//! `sendBeacon` that may refuse, seeded randomness), and [`Browser`] drives
//! it: events with the args layout of `host::ev`, the API calls converted
//! like `host.js`'s exports, time advanced timer by timer. Every request
//! body is decoded with `ktra_schema`'s serde types and every event checked
//! with the collector's `validate_event`.
//!
//! `src/web/tests.rs` runs the same kind of scenarios in Chromium through
//! the real DOM; these go further where time matters (backoff, sessions,
//! expiry) without sleeping.
#![allow(clippy::unwrap_used)]

use crate::host::{ev, Host, Op};
use crate::pixel::{detach, on_event, Pixel};
use ktra_schema::validate::parse_uuid;
use ktra_schema::wire::{Batch, PropValue, RawEvent};
use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::rc::Rc;

/// The simulated clock's start: 2025-11-22, in ms.
const T0: f64 = 1_763_800_000_000.0;
const DAY_S: f64 = 86_400.0;
const MIN: f64 = 60_000.0;
const ENDPOINT: &str = "https://collect.example/";
const EVENTS_URL: &str = "https://collect.example/v1/events";
const SITE: &str = "demo";
const TOKEN: &str = "v1.token-1";
const LANDING: &str = "https://shop.example/landing?q=1";
const REFERRER: &str = "https://search.example/?q=shoes";
const VID: &str = "ktra_vid";
const SID: &str = "ktra_sid";
const VID_LIFE_S: u64 = 390 * 86_400;

// ---------------------------------------------------------------------------
// The simulated page
// ---------------------------------------------------------------------------

/// How a body left the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Fetch,
    Beacon,
}

/// A request body the page sent (a fetch started, or a beacon the browser took).
#[derive(Clone, Debug)]
struct Sent {
    via: Via,
    body: String,
    /// Page time when it was sent.
    at: f64,
}

struct Cookie {
    name: String,
    value: String,
    /// Page time it expires at.
    expires: f64,
}

/// A `setTimeout` of host.js's SET_TIMER: one per task name.
struct Timer {
    /// Creation order (equal due times fire in it).
    id: u32,
    task: String,
    due: f64,
}

/// Everything the page knows.
struct Page {
    now: f64,
    href: String,
    referrer: String,
    title: String,
    jar: Vec<Cookie>,
    /// Every `document.cookie = …` assignment, in order.
    cookie_writes: Vec<String>,
    /// `localStorage["ktra_sess"]`.
    storage: Option<String>,
    /// Listeners and history proxies attached.
    listening: bool,
    timers: Vec<Timer>,
    timer_ids: u32,
    endpoint: String,
    /// Fetches under way (body, `n`), oldest first.
    inflight: VecDeque<(String, f64)>,
    sent: Vec<Sent>,
    /// Whether `sendBeacon` takes bodies.
    beacon_ok: bool,
    rng: u64,
    hidden: bool,
    scroll_y: f64,
    view_h: f64,
    doc_h: f64,
    /// Every op the pixel ran: op, string, number.
    log: Vec<(Op, String, f64)>,
}

impl Page {
    fn new(url: &str) -> Page {
        Page {
            now: T0,
            href: url.to_string(),
            referrer: REFERRER.to_string(),
            title: "Landing".to_string(),
            jar: Vec::new(),
            cookie_writes: Vec::new(),
            storage: None,
            listening: false,
            timers: Vec::new(),
            timer_ids: 0,
            endpoint: String::new(),
            inflight: VecDeque::new(),
            sent: Vec::new(),
            beacon_ok: true,
            rng: 0x5eed,
            hidden: false,
            scroll_y: 0.0,
            view_h: 800.0,
            doc_h: 4000.0,
            log: Vec::new(),
        }
    }

    /// `document.cookie`'s value for `name`, unless expired.
    fn cookie(&self, name: &str) -> Option<String> {
        self.jar.iter().find(|c| c.name == name && c.expires > self.now).map(|c| c.value.clone())
    }

    /// `document.cookie = s` for `name=value; Path=/; Max-Age=N; SameSite=Lax[; Secure]`.
    fn write_cookie(&mut self, s: &str) {
        self.cookie_writes.push(s.to_string());
        let mut parts = s.split("; ");
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else { return };
        let (mut max_age, mut secure) = (None, false);
        for attr in parts {
            if let Some(n) = attr.strip_prefix("Max-Age=") {
                max_age = n.parse::<i64>().ok();
            }
            secure |= attr == "Secure";
        }
        if secure && protocol(&self.href) != "https:" {
            return; // browsers refuse Secure cookies from http pages
        }
        self.jar.retain(|c| c.name != name);
        let expires = match max_age {
            Some(s) if s <= 0 => return, // deleted
            Some(s) => self.now + s as f64 * 1000.0,
            None => f64::INFINITY,
        };
        self.jar.push(Cookie { name: name.to_string(), value: value.to_string(), expires });
    }

    /// 32 random bits (a splitmix64 stream).
    fn bits(&mut self) -> u32 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 32) as u32
    }

    /// host.js UUID: 16 random bytes as a version 4 UUID, lower case.
    fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        for chunk in b.chunks_mut(4) {
            chunk.copy_from_slice(&self.bits().to_le_bytes());
        }
        b[6] = (b[6] & 15) | 64;
        b[8] = (b[8] & 63) | 128;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    }

    /// host.js SCROLLED: percent of the page seen.
    fn scrolled(&self) -> f64 {
        let seen = self.scroll_y.max(0.0) + self.view_h;
        if seen + 2.0 >= self.doc_h {
            100.0
        } else {
            seen / self.doc_h * 100.0
        }
    }

    fn text(&mut self, op: Op, s: &str) -> Option<String> {
        match op {
            Op::Href => Some(self.href.clone()),
            Op::Referrer => Some(self.referrer.clone()),
            Op::Title => Some(self.title.clone()),
            Op::Param => param(&self.href, s),
            Op::Campaign => Some(crate::url::utm_json(|p| param(&self.href, p))).filter(|u| !u.is_empty()),
            Op::Cookie => self.cookie(s),
            Op::Stored => self.storage.clone(),
            Op::Uuid => Some(self.uuid()),
            _ => None,
        }
    }

    fn num(&mut self, op: Op, s: &str, n: f64) -> f64 {
        match op {
            Op::SetCookie => {
                // host.js adds the attributes.
                let secure = if protocol(&self.href) == "https:" { "; Secure" } else { "" };
                self.write_cookie(&format!("{s}; Path=/; Max-Age={}; SameSite=Lax{secure}", js_number(n)));
            }
            Op::Store => self.storage = Some(s.to_string()),
            Op::Unstore => self.storage = None,
            Op::Strip => {
                return match strip(&self.href, s) {
                    Some(href) => {
                        self.href = href;
                        1.0
                    }
                    None => 0.0,
                }
            }
            Op::Listen => self.listening = n == 1.0,
            Op::SetTimer => {
                // One timer per task; an earlier request replaces a later one.
                let due = self.now + n;
                if self.timers.iter().all(|t| t.task != s || due < t.due) {
                    self.timers.retain(|t| t.task != s);
                    self.timer_ids += 1;
                    self.timers.push(Timer { id: self.timer_ids, task: s.to_string(), due });
                }
            }
            Op::ClearTimers => self.timers.clear(),
            Op::Endpoint => self.endpoint = s.to_string(),
            Op::Fetch => {
                self.inflight.push_back((s.to_string(), n));
                self.sent.push(Sent { via: Via::Fetch, body: s.to_string(), at: self.now });
                return 1.0;
            }
            Op::Beacon => {
                if !self.beacon_ok {
                    return 0.0;
                }
                self.sent.push(Sent { via: Via::Beacon, body: s.to_string(), at: self.now });
                return 1.0;
            }
            Op::Random => return f64::from(self.bits()) / 4_294_967_296.0, // Math.random()
            Op::Hidden => return f64::from(u8::from(self.hidden)),
            Op::Scrolled => return self.scrolled(),
            // A string op asked for a number: its length, as `k_do` answers.
            _ => return self.text(op, s).map_or(-1.0, |t| t.len() as f64),
        }
        0.0
    }
}

/// host.js PARAM: `URLSearchParams(location.search).get(name)?.trim()`.
fn param(url: &str, name: &str) -> Option<String> {
    crate::url::test_param(url)(name).map(|v| v.trim().to_string())
}

/// `location.protocol` of an absolute URL (`https:`).
fn protocol(url: &str) -> &str {
    url.find(':').map_or("", |i| &url[..=i])
}

/// `location.hostname` of an absolute URL (empty for `mailto:` and the like).
fn hostname(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("//") else { return "" };
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.split(':').next().unwrap_or("")
}

/// `host.js`'s STRIP: `url` without the query parameter `name` (every
/// occurrence), the other parameters and the fragment as written; `None`
/// when it has none.
fn strip(url: &str, name: &str) -> Option<String> {
    let (page, frag) = url.split_at(url.find('#').unwrap_or(url.len()));
    let (base, query) = page.split_once('?').unwrap_or((page, ""));
    let q: Vec<&str> = query.split('&').collect();
    let kept: Vec<&str> = q.iter().copied().filter(|p| p.split('=').next() != Some(name)).collect();
    if kept.len() == q.len() {
        return None;
    }
    let search = kept.join("&");
    Some(if search.is_empty() { format!("{base}{frag}") } else { format!("{base}?{search}{frag}") })
}

/// The simulated page, as the pixel's [`Host`].
#[derive(Clone)]
struct Sim(Rc<RefCell<Page>>);

impl Host for Sim {
    fn num(&self, op: Op, s: &str, n: f64) -> f64 {
        let mut p = self.0.borrow_mut();
        p.log.push((op, s.to_string(), n));
        p.num(op, s, n)
    }

    fn text(&self, op: Op, s: &str, n: f64) -> Option<String> {
        let mut p = self.0.borrow_mut();
        p.log.push((op, s.to_string(), n));
        p.text(op, s)
    }
}

// ---------------------------------------------------------------------------
// JS values, converted the way host.js's API exports convert them
// ---------------------------------------------------------------------------

/// A JS value passed to `track`, `purchase` or `identify`.
#[derive(Clone, Debug)]
enum Js {
    S(&'static str),
    N(f64),
    B(bool),
    Null,
}
use Js::{Null, B, N, S};

/// `'' + x` for a finite number, as JS prints it.
fn js_number(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || (1e-6..1e21).contains(&a) {
        return format!("{x}");
    }
    let e = format!("{x:e}"); // "1e21", "1.5e-7"
    match e.split_once('e') {
        Some((m, exp)) if !exp.starts_with('-') => format!("{m}e+{exp}"),
        _ => e,
    }
}

/// JS `+s` for a string.
fn js_to_number(s: &str) -> f64 {
    let t = s.trim();
    match t {
        "" => 0.0,
        "Infinity" | "+Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ if t.bytes().any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E') => f64::NAN,
        _ => t.parse().unwrap_or(f64::NAN),
    }
}

/// host.js `id`: a string, or a finite number as text.
fn js_id(v: Option<&Js>) -> Option<String> {
    match v? {
        S(s) => Some(s.to_string()),
        N(x) if x.is_finite() => Some(js_number(*x)),
        _ => None,
    }
}

/// host.js `num`: a finite number, also from a numeric string.
fn js_num(v: Option<&Js>) -> Option<String> {
    match v? {
        N(x) => js_id(Some(&N(*x))),
        S(s) if !s.trim().is_empty() => js_id(Some(&N(js_to_number(s)))),
        _ => None,
    }
}

/// `typeof v == 'string' ? v : none`.
fn js_str(v: Option<&Js>) -> Option<String> {
    match v? {
        S(s) => Some(s.to_string()),
        _ => None,
    }
}

/// host.js `text`: a string, trimmed.
fn js_text(v: Option<&Js>) -> Option<String> {
    js_str(v).map(|s| s.trim().to_string())
}

/// host.js `flat(o, skip)`: the other strings, finite numbers and booleans
/// as key, typed-value pairs.
fn js_flat(o: &[(&str, Js)], skip: &[&str]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for (k, v) in o {
        let typed = match v {
            S(s) => format!("s{s}"),
            N(x) if x.is_finite() => format!("n{}", js_number(*x)),
            B(b) => format!("b{b}"),
            _ => continue,
        };
        if !skip.contains(k) {
            out.push(Some(k.to_string()));
            out.push(Some(typed));
        }
    }
    out
}

fn field<'a>(o: &'a [(&str, Js)], key: &str) -> Option<&'a Js> {
    o.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

// ---------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------

/// A browser tab with the pixel: the page, and the pixel's state as
/// `src/web` keeps it.
struct Browser {
    sim: Sim,
    state: Option<Pixel<Sim>>,
    /// The consent expiry the loader passes (Unix s): fixed at consent time.
    exp_s: f64,
}

impl Browser {
    /// A tab showing `url`, reached from a search engine.
    fn at(url: &str) -> Browser {
        Browser {
            sim: Sim(Rc::new(RefCell::new(Page::new(url)))),
            state: None,
            exp_s: (T0 / 1000.0).floor() + 180.0 * DAY_S,
        }
    }

    /// A tab with the pixel started on `url` and its start task run.
    fn booted(url: &str) -> Browser {
        let mut b = Browser::at(url);
        b.boot();
        b
    }

    fn page(&self) -> RefMut<'_, Page> {
        self.sim.0.borrow_mut()
    }

    fn now(&self) -> f64 {
        self.page().now
    }

    fn now_s(&self) -> f64 {
        (self.now() / 1000.0).floor()
    }

    fn running(&self) -> bool {
        self.state.is_some()
    }

    /// One call of `k_ev`. host.js passes `+a || 0`: NaN arrives as 0.
    fn call(&mut self, code: u32, args: &[Option<&str>], a: f64, b: f64) {
        let js = |x: f64| if x.is_nan() { 0.0 } else { x };
        let now = self.now();
        on_event(&mut self.state, &self.sim, args, code, now, js(a), js(b));
    }

    /// A page event: reaches the pixel only while its listeners are attached.
    fn page_event(&mut self, code: u32, args: &[Option<&str>], a: f64, b: f64) {
        if self.page().listening {
            self.call(code, args, a, b);
        }
    }

    fn start(&mut self, endpoint: &str, site: &str, token: &str, exp_s: f64) {
        self.call(ev::START, &[Some(endpoint), Some(site), Some(token)], exp_s, 0.0);
    }

    /// The loader's `start` with this tab's consent.
    fn start_default(&mut self) {
        let exp = self.exp_s;
        self.start(ENDPOINT, SITE, TOKEN, exp);
    }

    /// `start`, then its task (a timer of delay 0).
    fn boot(&mut self) {
        self.start_default();
        self.advance(0.0);
    }

    fn stop(&mut self) {
        self.call(ev::STOP, &[], 0.0, 0.0);
    }

    /// The page is left: the pixel detaches; cookies and storage stay,
    /// fetches under way settle unheard.
    fn leave(&mut self) {
        detach(&mut self.state);
        let mut p = self.page();
        p.inflight.clear();
        p.listening = false;
        p.hidden = false;
        p.scroll_y = 0.0;
    }

    /// A new page load of `url` (a link from the current page) with the pixel.
    fn open(&mut self, url: &str) {
        self.leave();
        {
            let mut guard = self.page();
            let p = &mut *guard;
            p.referrer = std::mem::replace(&mut p.href, url.to_string());
        }
        self.boot();
    }

    /// Lets `ms` pass, firing every due timer at its time, in order.
    fn advance(&mut self, ms: f64) {
        let end = self.now() + ms;
        for _ in 0..100_000 {
            let next = self
                .page()
                .timers
                .iter()
                .filter(|t| t.due <= end)
                .min_by(|x, y| x.due.total_cmp(&y.due).then(x.id.cmp(&y.id)))
                .map(|t| (t.id, t.task.clone(), t.due));
            let Some((id, task, due)) = next else {
                self.page().now = end;
                return;
            };
            {
                let mut p = self.page();
                p.timers.retain(|t| t.id != id);
                p.now = p.now.max(due);
            }
            self.call(ev::TIMER, &[Some(&task)], 0.0, 0.0);
        }
        panic!("the timer keeps firing");
    }

    /// Settles the oldest fetch under way: `status` 0 is a network error.
    fn respond(&mut self, status: u16, retry_after: Option<&str>) {
        let (_, n) = self.page().inflight.pop_front().expect("no fetch under way");
        let header = retry_after.map(str::trim); // host.js `text(...)`
        let args: &[Option<&str>] = if status == 0 { &[] } else { &[header] };
        self.call(ev::RESPONSE, args, n, f64::from(status));
    }

    /// Answers 202 to every fetch, including those the answers start.
    fn deliver_all(&mut self) {
        while !self.page().inflight.is_empty() {
            self.respond(202, None);
        }
    }

    /// Lets pending work and flushes run (a few seconds) and the collector
    /// answer 202 to everything.
    fn settle(&mut self) {
        for _ in 0..3 {
            self.advance(1_000.0);
            self.deliver_all();
        }
    }

    /// `pushState(url)` (or `replaceState`, or a `popstate` to it).
    fn navigate(&mut self, url: &str) {
        self.page().href = url.to_string();
        self.page_event(ev::NAV, &[], 0.0, 0.0);
    }

    /// A pointer or key input.
    fn input(&mut self) {
        self.page_event(ev::ACTIVE, &[], 0.0, 0.0);
    }

    fn scroll_to(&mut self, y: f64) {
        self.page().scroll_y = y;
        self.page_event(ev::SCROLL, &[], 0.0, 0.0);
    }

    /// `pagehide`.
    fn pagehide(&mut self) {
        self.page_event(ev::HIDE, &[], 0.0, 1.0);
    }

    /// `visibilitychange` to hidden or visible.
    fn set_hidden(&mut self, hidden: bool) {
        self.page().hidden = hidden;
        self.page_event(ev::HIDE, &[], 0.0, 0.0);
    }

    /// A `click` (button 0) on a link to `href`, or `auxclick` with `button`.
    fn click_link(&mut self, href: &str, button: f64, aux: bool) {
        // host.js: a link that leaves the site, "www." aside, goes as its href.
        let site = |h: &str| h.strip_prefix("www.").unwrap_or(h).to_ascii_lowercase();
        let page_host = hostname(&self.page().href).to_string();
        let out = matches!(protocol(href), "http:" | "https:")
            && !hostname(href).is_empty()
            && site(hostname(href)) != site(&page_host);
        let args: &[Option<&str>] = if out { &[Some(href)] } else { &[] };
        self.page_event(ev::CLICK, args, button, f64::from(u8::from(aux)));
    }

    fn click(&mut self, href: &str) {
        self.click_link(href, 0.0, false);
    }

    /// A form `submit`: id and name attributes, action, the email field's
    /// value of a `data-ktra-identify` form, the names of its controls.
    fn submit(&mut self, id: Option<&str>, name: Option<&str>, action: &str, email: Option<&str>, controls: &[&str]) {
        let email = email.map(|e| e.trim().to_lowercase()); // host.js `text(...)?.toLowerCase()`
        let mut args = vec![id, name, Some(action), email.as_deref()];
        for c in controls {
            if !args[4..].contains(&Some(*c)) {
                args.push(Some(*c)); // host.js: `new Set(names)`
            }
        }
        self.page_event(ev::SUBMIT, &args, 0.0, 0.0);
    }

    /// A media event (`play`, `timeupdate`, `ended`) of a `tag` element
    /// with id attribute `id` playing `src`.
    fn media(&mut self, ty: &str, tag: &str, id: &str, src: &str, time: f64, duration: f64) {
        // host.js: `<video>` only, known by its id, else its source.
        if tag == "VIDEO" {
            let name = if id.is_empty() { src } else { id };
            self.page_event(ev::MEDIA, &[Some(ty), Some(name)], time, duration);
        }
    }

    /// `track(name, props)`.
    fn track(&mut self, name: Js, props: &[(&str, Js)]) {
        let mut args = vec![js_text(Some(&name))];
        args.extend(js_flat(props, &[]));
        let args: Vec<Option<&str>> = args.iter().map(Option::as_deref).collect();
        self.call(ev::TRACK, &args, 0.0, 0.0);
    }

    /// `track(name)` without props.
    fn track_named(&mut self, name: &'static str) {
        self.track(S(name), &[]);
    }

    /// `purchase(order)`.
    fn purchase(&mut self, o: &[(&str, Js)]) {
        let mut args = vec![
            js_id(field(o, "order_id")),
            js_num(field(o, "value")),
            js_text(field(o, "currency")).map(|c| c.to_uppercase()),
            js_id(field(o, "product_id")),
            js_str(field(o, "product_name")),
        ];
        args.extend(js_flat(o, &["order_id", "value", "currency", "product_id", "product_name"]));
        let args: Vec<Option<&str>> = args.iter().map(Option::as_deref).collect();
        self.call(ev::PURCHASE, &args, 0.0, 0.0);
    }

    /// `identify(who)`.
    fn identify(&mut self, o: &[(&str, Js)]) {
        let args = [js_text(field(o, "email")).map(|e| e.to_lowercase()), js_id(field(o, "lead_id"))];
        let args: Vec<Option<&str>> = args.iter().map(Option::as_deref).collect();
        self.call(ev::IDENTIFY, &args, 0.0, 0.0);
    }

    // -- what the page saw -------------------------------------------------

    fn sent(&self) -> Vec<Sent> {
        self.page().sent.clone()
    }

    fn fetches(&self) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.via == Via::Fetch).collect()
    }

    fn beacons(&self) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.via == Via::Beacon).collect()
    }

    /// Every body sent, decoded; each event must pass the collector's checks.
    fn batches(&self) -> Vec<Batch> {
        let now = self.now() as i64;
        self.sent()
            .iter()
            .map(|s| {
                let b: Batch = serde_json::from_str(&s.body).unwrap_or_else(|e| panic!("{e}: {}", s.body));
                for e in &b.events {
                    if let Err(r) = ktra_schema::validate_event(e.clone(), now) {
                        panic!("{} rejected: {r:?}\n{}", e.kind, s.body);
                    }
                }
                b
            })
            .collect()
    }

    /// Every event of every body sent, in sending order (a resent body's twice).
    fn events(&self) -> Vec<RawEvent> {
        self.batches().into_iter().flat_map(|b| b.events).collect()
    }

    /// Like [`Browser::events`], without the collector's checks.
    fn unchecked_events(&self) -> Vec<RawEvent> {
        let bodies = self.sent();
        bodies.iter().flat_map(|s| serde_json::from_str::<Batch>(&s.body).unwrap().events).collect()
    }

    fn of_kind(&self, kind: &str) -> Vec<RawEvent> {
        self.events().into_iter().filter(|e| e.kind == kind).collect()
    }

    fn kinds(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.kind).collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.page().cookie(name)
    }

    /// The visitor id: the `ktra_vid` cookie before the dot.
    fn vid(&self) -> String {
        let v = self.cookie(VID).expect("no ktra_vid");
        v.split('.').next().unwrap().to_string()
    }

    /// The last `document.cookie` assignment for `name`.
    fn last_write(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.page().cookie_writes.iter().rev().find(|w| w.starts_with(&prefix)).cloned().expect("never written")
    }

    /// `Max-Age` of the last assignment for `name`.
    fn max_age(&self, name: &str) -> u64 {
        let w = self.last_write(name);
        w.split("; ").find_map(|a| a.strip_prefix("Max-Age=")).unwrap().parse().unwrap()
    }

    /// A position in the op log.
    fn mark(&self) -> usize {
        self.page().log.len()
    }

    /// The ops run since `mark`.
    fn ops_since(&self, mark: usize) -> Vec<Op> {
        self.page().log[mark..].iter().map(|(op, _, _)| *op).collect()
    }

    /// Due times of the pending timers.
    fn timers(&self) -> Vec<f64> {
        self.page().timers.iter().map(|t| t.due).collect()
    }
}

/// The events of one decoded batch, by kind.
fn kinds_of(b: &Batch) -> Vec<&str> {
    b.events.iter().map(|e| e.kind.as_str()).collect()
}

fn is_v4_uuid(s: &str) -> bool {
    parse_uuid(s).is_some_and(|b| b[6] >> 4 == 4 && b[8] >> 6 == 0b10) && s.len() == 36
}

fn prop(e: &RawEvent, key: &str) -> Option<PropValue> {
    e.props.as_ref().and_then(|p| p.get(key).cloned())
}

// ---------------------------------------------------------------------------
// The simulation itself behaves like host.js
// ---------------------------------------------------------------------------

#[test]
fn sim_strips_like_host_js() {
    let o = "https://shop.example";
    let cases = crate::host::STRIP_CASES;
    for (from, to) in cases {
        assert_eq!(strip(&format!("{o}{from}"), "ktra_ec"), to.map(|t| format!("{o}{t}")), "{from}");
    }
}

#[test]
fn sim_cookie_jar_honours_max_age_and_secure() {
    let mut p = Page::new("http://shop.example/");
    p.write_cookie("a=1; Path=/; Max-Age=10; SameSite=Lax");
    p.write_cookie("s=1; Path=/; Max-Age=10; SameSite=Lax; Secure");
    assert_eq!(p.cookie("a").as_deref(), Some("1"));
    assert_eq!(p.cookie("s"), None, "Secure refused on http");
    p.now += 10_000.0;
    assert_eq!(p.cookie("a"), None, "expired");
    p.now -= 5_000.0;
    p.write_cookie("a=; Path=/; Max-Age=0; SameSite=Lax");
    assert_eq!(p.cookie("a"), None, "deleted");
    assert_eq!(hostname("https://Shop.example:8443/x?y#z"), "Shop.example");
    assert_eq!(hostname("mailto:a@b.example"), "");
    assert_eq!(protocol("mailto:a@b.example"), "mailto:");
    assert_eq!(js_number(49.9), "49.9");
    assert_eq!(js_number(1e21), "1e+21");
    assert_eq!(js_number(1.5e-7), "1.5e-7");
    assert_eq!(js_num(Some(&S(" 49.90 "))).as_deref(), Some("49.9"));
    assert_eq!(js_num(Some(&S("abc"))), None);
    assert_eq!(js_num(Some(&N(f64::NAN))), None);
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

/// The loader's `start` returns at once: no cookie or storage touched, no
/// listener, nothing sent; the rest runs in a timer task right after.
#[test]
fn start_only_reads_config_and_init_runs_on_the_first_timer() {
    let mut b = Browser::at(LANDING);
    b.start_default();
    let ops = b.ops_since(0);
    for op in [Op::Cookie, Op::SetCookie, Op::Stored, Op::Store, Op::Listen, Op::Fetch, Op::Beacon, Op::Strip] {
        assert!(!ops.contains(&op), "{op:?} inside start: {ops:?}");
    }
    assert!(ops.contains(&Op::Endpoint) && ops.contains(&Op::SetTimer), "{ops:?}");
    assert_eq!(b.page().endpoint, EVENTS_URL);
    assert_eq!(b.timers(), [T0], "one timer, right away");
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());

    b.advance(0.0);
    assert!(b.cookie(VID).is_some() && b.cookie(SID).is_some());
    assert!(b.page().storage.is_some());
    assert!(b.page().listening);
    assert!(b.sent().is_empty(), "the page view waits for the flush");
}

/// An API call that comes before the start task runs it first: nothing lost,
/// one page view.
#[test]
fn an_api_call_before_the_start_task_runs_it_first() {
    let mut b = Browser::at(LANDING);
    b.start_default();
    b.track_named("early");
    assert!(b.cookie(VID).is_some(), "init ran for the call");
    b.advance(1_000.0);
    assert_eq!(b.kinds(), ["page_view", "custom"]);
}

#[test]
fn bad_or_expired_config_does_nothing() {
    let now_s = (T0 / 1000.0).floor();
    let future = now_s + DAY_S;
    let cases: [(&[Option<&str>], f64); 7] = [
        (&[None, Some(SITE), Some(TOKEN)], future),
        (&[Some(""), Some(SITE), Some(TOKEN)], future),
        (&[Some(ENDPOINT), None, Some(TOKEN)], future),
        (&[Some(ENDPOINT), Some(""), Some(TOKEN)], future),
        (&[None, None, None], 0.0),                                // start(null)
        (&[Some(ENDPOINT), Some(SITE), Some(TOKEN)], now_s - 1.0), // expired
        (&[Some(ENDPOINT), Some(SITE), Some(TOKEN)], f64::NAN),    // `exp` missing: 0
    ];
    for (i, (args, exp)) in cases.into_iter().enumerate() {
        let mut b = Browser::at(LANDING);
        b.call(ev::START, args, exp, 0.0);
        assert!(!b.running(), "case {i}");
        assert!(b.ops_since(0).is_empty(), "case {i}: {:?}", b.ops_since(0));
        b.track_named("x");
        b.advance(5_000.0);
        assert!(b.cookie(VID).is_none() && b.sent().is_empty(), "case {i}");
    }
    // A consent valid one more second is enough.
    let mut b = Browser::at(LANDING);
    b.start(ENDPOINT, SITE, TOKEN, now_s + 1.0);
    b.advance(0.0);
    assert!(b.running());
    assert_eq!(b.max_age(SID), 1);
}

/// A renewed consent while running: the new token and expiry, nothing else
/// (no second page view, same endpoint, visitor and session).
#[test]
fn start_while_running_only_refreshes_token_and_expiry() {
    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 30.0 * DAY_S;
    b.boot();
    assert_eq!(b.max_age(VID), 30 * 86_400);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);
    assert_eq!(first.consent.as_deref(), Some(TOKEN));

    let mark = b.mark();
    let exp2 = b.now_s() + 200.0 * DAY_S;
    b.start("https://elsewhere.example/", "other-site", "v1.token-2", exp2);
    let ops = b.ops_since(mark);
    assert_eq!(ops, [Op::SetCookie], "only the visitor cookie's life is re-set");
    assert_eq!(b.max_age(VID), 200 * 86_400, "bound to the new expiry");
    assert_eq!(b.page().endpoint, EVENTS_URL);

    b.track_named("after");
    b.advance(1_000.0);
    let last = b.batches().pop().unwrap();
    assert_eq!(last.consent.as_deref(), Some("v1.token-2"));
    assert_eq!((last.site.as_str(), &last.vid, &last.sid), (SITE, &first.vid, &first.sid));
    assert_eq!(b.of_kind("page_view").len(), 1);
}

#[test]
fn start_then_stop_before_the_start_task_leaves_nothing() {
    let mut b = Browser::at(LANDING);
    b.start_default();
    b.stop();
    b.advance(5_000.0);
    assert!(!b.running());
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());
    assert!(b.page().cookie_writes.iter().all(|w| w.contains("Max-Age=0")), "only deletions");
    assert!(b.sent().is_empty() && b.timers().is_empty());
    assert!(!b.ops_since(0).contains(&Op::Listen));
}

// ---------------------------------------------------------------------------
// Visitor, session, first page view
// ---------------------------------------------------------------------------

#[test]
fn first_page_view_batch_matches_the_cookies() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    let batches = b.batches();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.site, SITE);
    assert_eq!(batch.consent.as_deref(), Some(TOKEN));
    let vid_cookie = b.cookie(VID).unwrap();
    assert_eq!(vid_cookie, format!("{}.{}", batch.vid, T0 as u64 / 1000), "<uuid>.<created unix s>");
    assert_eq!(b.cookie(SID).as_deref(), Some(batch.sid.as_str()));
    assert!(batch.utm.is_none() && batch.ec.is_none());
    assert_eq!(b.page().storage.clone().unwrap(), format!("{}\n\n", batch.sid));
    let pv = &batch.events[0];
    assert_eq!(kinds_of(batch), ["page_view"]);
    assert_eq!(pv.url.as_deref(), Some(LANDING));
    assert_eq!(pv.referrer.as_deref(), Some(REFERRER));
    assert_eq!(pv.title.as_deref(), Some("Landing"));
    assert_eq!(pv.ts, Some(T0 as i64));
    // host-only, Path=/, SameSite=Lax, Secure on https
    let w = b.last_write(VID);
    assert_eq!(w, format!("ktra_vid={vid_cookie}; Path=/; Max-Age={}; SameSite=Lax; Secure", 180 * 86_400));
    assert_eq!(b.last_write(SID), format!("ktra_sid={}; Path=/; Max-Age=1800; SameSite=Lax; Secure", batch.sid));
}

#[test]
fn http_pages_get_cookies_without_secure() {
    let mut b = Browser::booted("http://shop.example/");
    assert!(b.cookie(VID).is_some() && b.cookie(SID).is_some());
    assert!(!b.last_write(SID).contains("Secure"));
    b.stop();
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());
}

#[test]
fn visitor_cookie_lives_until_consent_expiry_at_most_390_days_and_is_not_extended() {
    let now_s = (T0 / 1000.0).floor();
    let mut b = Browser::at(LANDING);
    b.exp_s = now_s + 30.0 * DAY_S;
    b.boot();
    assert_eq!(b.max_age(VID), 30 * 86_400, "consent ends first");

    let mut b = Browser::at(LANDING);
    b.exp_s = now_s + 1000.0 * DAY_S;
    b.boot();
    assert_eq!(b.max_age(VID), VID_LIFE_S, "390 days end first");
    let vid = b.vid();

    // Back 100 days later: same visitor, the cookie not extended.
    b.leave();
    b.advance(100.0 * DAY_S * 1000.0);
    b.boot();
    assert_eq!(b.vid(), vid);
    assert_eq!(b.max_age(VID), VID_LIFE_S - 100 * 86_400);
    assert!(b.cookie(VID).unwrap().ends_with(&format!(".{}", now_s as u64)));

    // After 391 days the cookie is gone: a new visitor.
    b.leave();
    b.advance(291.0 * DAY_S * 1000.0);
    b.boot();
    assert_ne!(b.vid(), vid);
    assert_eq!(b.max_age(VID), VID_LIFE_S);
}

#[test]
fn session_cookie_lives_30_minutes_never_past_consent_and_is_refreshed_once_a_minute() {
    let mut b = Browser::booted(LANDING);
    assert_eq!(b.max_age(SID), 1800);
    let sid_writes = |b: &Browser| b.page().cookie_writes.iter().filter(|w| w.starts_with("ktra_sid=")).count();
    assert_eq!(sid_writes(&b), 1);
    b.advance(30_000.0);
    b.input();
    assert_eq!(sid_writes(&b), 1, "not again within a minute");
    b.advance(31_000.0);
    b.input();
    assert_eq!(sid_writes(&b), 2, "re-set after a minute of activity");
    assert_eq!(b.max_age(SID), 1800);

    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 600.0;
    b.boot();
    assert_eq!(b.max_age(SID), 600, "never past the consent");
    assert_eq!(b.max_age(VID), 600);
}

#[test]
fn ids_are_unique_v4_uuids() {
    let mut b = Browser::booted(LANDING);
    for _ in 0..25 {
        b.track_named("t");
    }
    b.page().doc_h = 500.0; // all scroll depths
    b.scroll_to(0.0);
    b.advance(1_000.0);
    b.deliver_all();
    b.pagehide();
    let events = b.events();
    assert!(events.len() > 30);
    let batch = &b.batches()[0];
    let mut ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    ids.push(batch.vid.clone());
    ids.push(batch.sid.clone());
    for id in &ids {
        assert!(is_v4_uuid(id), "{id}");
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "ids repeat");
}

// ---------------------------------------------------------------------------
// Batching
// ---------------------------------------------------------------------------

#[test]
fn an_event_waits_at_most_one_second_then_goes_by_fetch() {
    let mut b = Browser::booted(LANDING);
    b.advance(999.0);
    assert!(b.sent().is_empty());
    b.advance(1.0);
    let f = b.fetches();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].at, T0 + 1_000.0);
    b.respond(202, None);

    // Events that keep coming do not postpone the first one's flush.
    b.track_named("a");
    let t = b.now();
    b.advance(500.0);
    b.track_named("b");
    b.advance(400.0);
    b.track_named("c");
    b.advance(99.0);
    assert_eq!(b.fetches().len(), 1);
    b.advance(1.0);
    let f = b.fetches();
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].at, t + 1_000.0);
    assert_eq!(kinds_of(&b.batches()[1]), ["custom"; 3]);
    assert!(b.beacons().is_empty());
}

#[test]
fn ten_events_flush_at_once() {
    let mut b = Browser::booted(LANDING);
    for _ in 0..8 {
        b.track_named("t");
    }
    assert!(b.sent().is_empty());
    b.track_named("t"); // the 10th event, with the page view
    assert_eq!(b.fetches().len(), 1, "no waiting for the timer");
    assert_eq!(b.batches()[0].events.len(), 10);
    b.respond(202, None);
    for _ in 0..10 {
        b.track_named("u");
    }
    assert_eq!(b.fetches().len(), 2);
    assert_eq!(b.batches()[1].events.len(), 10);
}

#[test]
fn bodies_stay_within_50_events_and_32_kib() {
    // 120 events while the collector is slow to answer.
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    for _ in 0..120 {
        b.track_named("burst");
    }
    b.deliver_all();
    b.advance(2_000.0);
    b.deliver_all();
    let batches = b.batches();
    assert!(batches.iter().all(|b| !b.events.is_empty() && b.events.len() <= 50));
    assert_eq!(b.of_kind("custom").len(), 120, "all delivered, once");

    // Big events: one body never exceeds 32 KiB.
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    let keys: Vec<String> = (0..32).map(|i| format!("p{i}")).collect();
    let big: &'static str = Box::leak("x".repeat(500).into_boxed_str());
    let props: Vec<(&str, Js)> = keys.iter().map(|k| (k.as_str(), S(big))).collect();
    for _ in 0..10 {
        b.track(S("big"), &props);
    }
    b.deliver_all();
    b.advance(2_000.0);
    b.deliver_all();
    assert!(b.sent().iter().all(|s| s.body.len() <= 32 * 1024));
    let customs = b.of_kind("custom");
    assert_eq!(customs.len(), 10);
    assert_eq!(customs[0].props.as_ref().unwrap().len(), 32);
}

// ---------------------------------------------------------------------------
// Delivery and retries
// ---------------------------------------------------------------------------

#[test]
fn network_errors_and_5xx_are_retried_with_the_same_body() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    for status in [0, 503, 500, 502, 504, 408] {
        let t = b.now();
        let n = b.fetches().len();
        b.respond(status, None);
        b.advance(60_000.0);
        let f = b.fetches();
        assert_eq!(f.len(), n + 1, "{status} is retried");
        assert!(f[n].at > t, "{status}: after a backoff");
        assert_eq!(f[n].body, f[0].body, "same body, same event ids");
    }
    b.respond(202, None);
    b.advance(10.0 * MIN);
    assert_eq!(b.fetches().len(), 7, "delivered: no more");
}

#[test]
fn backoff_doubles_from_one_second_to_a_minute_with_jitter() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    let mut delays = Vec::new();
    for attempt in 1..=7 {
        let t = b.now();
        let n = b.fetches().len();
        b.respond(503, None);
        b.advance(70_000.0);
        let f = b.fetches();
        assert_eq!(f.len(), n + 1);
        let delay = f[n].at - t;
        let full = (1_000.0 * 2f64.powi(attempt - 1)).min(60_000.0);
        assert!((full / 2.0..=full).contains(&delay), "attempt {attempt}: {delay} ms");
        delays.push(delay);
    }
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
}

#[test]
fn retry_after_is_honoured_for_429_and_503_only() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    let next_after = |b: &mut Browser, status: u16, header: &str| {
        let (t, n) = (b.now(), b.fetches().len());
        b.respond(status, Some(header));
        b.advance(11.0 * MIN);
        assert_eq!(b.fetches().len(), n + 1);
        b.fetches()[n].at - t
    };
    assert_eq!(next_after(&mut b, 429, "30"), 30_000.0);
    assert_eq!(next_after(&mut b, 503, " 12 "), 12_000.0);
    assert!(next_after(&mut b, 500, "30") <= 4_000.0, "not for a 500");
    assert!(next_after(&mut b, 429, "Wed, 21 Oct 2015 07:28:00 GMT") <= 8_000.0, "dates are not understood");
    assert_eq!(next_after(&mut b, 503, "86400"), 600_000.0, "capped at 10 minutes");
    b.respond(202, None);
    let bodies: Vec<String> = b.fetches().into_iter().map(|s| s.body).collect();
    assert!(bodies.iter().all(|x| *x == bodies[0]));
}

#[test]
fn retry_after_is_waited_for_exactly() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.respond(429, Some("30"));
    b.track_named("meanwhile");
    b.advance(29_999.0);
    assert_eq!(b.fetches().len(), 1, "nothing before Retry-After, new events neither");
    b.advance(1.0);
    assert_eq!(b.fetches().len(), 2);
    b.deliver_all();
    assert_eq!(b.kinds(), ["page_view", "page_view", "custom"]);
}

#[test]
fn client_errors_are_final() {
    for status in [400, 401, 404, 413, 422, 501, 505] {
        let mut b = Browser::booted(LANDING);
        b.advance(1_000.0);
        b.respond(status, Some("1"));
        b.advance(10.0 * MIN);
        assert_eq!(b.fetches().len(), 1, "{status} is not retried");
        // Later events still go.
        b.track_named("next");
        b.advance(1_000.0);
        assert_eq!(b.fetches().len(), 2, "{status}");
        assert_eq!(kinds_of(&b.batches()[1]), ["custom"]);
    }
}

#[test]
fn a_body_is_dropped_after_8_attempts_and_the_next_one_goes() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.track_named("waiting");
    for _ in 1..8 {
        b.respond(0, None);
        b.advance(70_000.0);
    }
    assert_eq!(b.fetches().len(), 8);
    assert!(b.fetches().iter().all(|f| f.body == b.fetches()[0].body), "the other body waits its turn");
    b.respond(0, None); // the 8th failure
    let f = b.fetches();
    assert_eq!(f.len(), 9, "the next body goes at once");
    assert_eq!(kinds_of(&b.batches()[8]), ["custom"]);
    b.respond(202, None);
    b.advance(10.0 * MIN);
    assert_eq!(b.fetches().len(), 9, "the dropped body is not sent again");
}

/// A fetch of a stopped pixel settling after a new start is not taken for
/// the new pixel's fetch.
#[test]
fn a_response_of_an_old_generation_is_ignored() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.stop();
    b.boot();
    b.advance(1_000.0);
    assert_eq!(b.fetches().len(), 2);
    b.respond(503, None); // the old pixel's fetch
    b.advance(2.0 * MIN);
    assert_eq!(b.fetches().len(), 2, "no retry for a body the new pixel does not have");
    for _ in 0..10 {
        b.track_named("t");
    }
    assert_eq!(b.fetches().len(), 2, "the new fetch is still under way");
    b.respond(202, None); // the new pixel's fetch
    assert_eq!(b.fetches().len(), 3);
    assert_eq!(b.batches()[2].events.len(), 10);
}

// ---------------------------------------------------------------------------
// Hiding and leaving the page
// ---------------------------------------------------------------------------

#[test]
fn pagehide_sends_the_queue_by_beacon_with_engagement() {
    let mut b = Browser::booted(LANDING);
    b.advance(500.0);
    b.track_named("x");
    b.advance(300.0);
    b.pagehide();
    assert!(b.fetches().is_empty());
    let beacons = b.beacons();
    assert_eq!(beacons.len(), 1);
    let batch = &b.batches()[0];
    assert_eq!(kinds_of(batch), ["page_view", "custom", "engagement"]);
    assert_eq!(batch.events[2].engaged_ms, Some(800), "visible and active since the start");
    b.advance(5_000.0);
    assert_eq!(b.sent().len(), 1, "nothing sent twice");
}

#[test]
fn hiding_the_tab_beacons_and_showing_it_again_does_not() {
    let mut b = Browser::booted(LANDING);
    b.advance(2_000.0);
    b.deliver_all();
    b.track_named("x");
    b.set_hidden(true);
    assert_eq!(b.beacons().len(), 1);
    assert_eq!(kinds_of(&b.batches()[1]), ["custom", "engagement"]);
    assert_eq!(b.batches()[1].events[1].engaged_ms, Some(2_000));
    b.advance(10_000.0);
    b.set_hidden(false);
    assert_eq!(b.sent().len(), 2, "visible again: nothing sent");
    b.advance(3_000.0);
    b.pagehide();
    let eng: Vec<u64> = b.of_kind("engagement").iter().map(|e| e.engaged_ms.unwrap()).collect();
    assert_eq!(eng, [2_000, 3_000], "hidden time does not count");
}

#[test]
fn engagement_counts_only_time_with_input_in_the_last_30_s() {
    let mut b = Browser::booted(LANDING);
    b.advance(60_000.0); // reading without input: 30 s count
    b.input();
    b.advance(10_000.0);
    b.pagehide();
    let eng = b.of_kind("engagement");
    assert_eq!(eng.len(), 1);
    assert_eq!(eng[0].engaged_ms, Some(40_000));
    b.pagehide();
    assert_eq!(b.of_kind("engagement").len(), 1, "nothing more to report");
}

#[test]
fn a_refused_beacon_keeps_the_body_for_the_next_fetch() {
    let mut b = Browser::booted(LANDING);
    b.page().beacon_ok = false;
    b.advance(500.0);
    let mark = b.mark();
    b.pagehide();
    let refused: Vec<String> =
        b.page().log[mark..].iter().filter(|(op, _, _)| *op == Op::Beacon).map(|(_, s, _)| s.clone()).collect();
    assert_eq!(refused.len(), 1);
    assert!(b.sent().is_empty());
    b.advance(500.0); // the flush timer
    let f = b.fetches();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].body, refused[0], "the same events, same ids");
    assert_eq!(kinds_of(&b.batches()[0]), ["page_view", "engagement"]);
}

#[test]
fn hiding_does_not_resend_the_body_in_flight() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.pagehide();
    assert_eq!(b.fetches().len(), 1);
    assert_eq!(kinds_of(&b.batches()[1]), ["engagement"], "the beacon leaves the page view to its fetch");
}

#[test]
fn hiding_during_a_backoff_sends_the_waiting_body_by_beacon() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.respond(503, Some("60"));
    b.advance(1_000.0);
    b.pagehide();
    let beaconed: Vec<String> = b.beacons().into_iter().map(|s| s.body).collect();
    assert!(beaconed.contains(&b.fetches()[0].body), "the waiting page view goes by beacon");
    b.advance(2.0 * MIN);
    assert_eq!(b.fetches().len(), 1, "and is not retried afterwards");
    assert_eq!(b.of_kind("page_view").len(), 2);
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

const CAMPAIGN: &str = "https://shop.example/?utm_source=news&utm_medium=email";

#[test]
fn the_session_and_its_campaign_continue_on_the_next_page_load() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);
    assert_eq!(first.utm.as_ref().unwrap().source.as_deref(), Some("news"));

    b.advance(5.0 * MIN);
    b.open("https://shop.example/next");
    b.advance(1_000.0);
    let next = b.batches().pop().unwrap();
    assert_eq!((&next.vid, &next.sid), (&first.vid, &first.sid));
    assert_eq!(next.utm, first.utm, "the campaign comes from storage");
    let pv = &next.events[0];
    assert_eq!(pv.referrer.as_deref(), Some(CAMPAIGN));

    // A reload of the campaign landing continues it too.
    b.advance(MIN);
    b.open(CAMPAIGN);
    b.advance(1_000.0);
    assert_eq!(b.batches().pop().unwrap().sid, first.sid);
}

#[test]
fn a_landing_with_another_campaign_starts_a_new_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    let first = b.batches().remove(0);
    for (url, source, gclid) in [
        ("https://shop.example/?utm_source=ads", Some("ads"), None),
        ("https://shop.example/p?gclid=G1", None, Some("G1")),
    ] {
        b.advance(MIN);
        b.open(url);
        b.advance(1_000.0);
        let batch = b.batches().pop().unwrap();
        assert_ne!(batch.sid, first.sid, "{url}");
        assert_eq!(batch.vid, first.vid);
        let utm = batch.utm.unwrap();
        assert_eq!((utm.source.as_deref(), utm.gclid.as_deref()), (source, gclid));
        assert!(b.page().storage.clone().unwrap().starts_with(&batch.sid));
    }
}

#[test]
fn a_new_email_click_starts_a_new_session() {
    let mut b = Browser::booted("https://shop.example/?ktra_ec=E1");
    b.advance(1_000.0);
    let first = b.batches().remove(0);
    assert_eq!(first.ec.as_deref(), Some("E1"));
    b.advance(MIN);
    b.open("https://shop.example/?ktra_ec=E2");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_ne!(batch.sid, first.sid);
    assert_eq!(batch.ec.as_deref(), Some("E2"));
    let clicks: Vec<String> = b.of_kind("email_click").into_iter().map(|e| e.click_id.unwrap()).collect();
    assert_eq!(clicks, ["E1", "E2"]);
}

#[test]
fn thirty_minutes_without_activity_start_a_new_session_without_campaign() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);

    // 29 minutes: the same session.
    b.advance(29.0 * MIN);
    b.input();
    b.track_named("still");
    b.advance(1_000.0);
    b.deliver_all();
    let batch = b.batches().pop().unwrap();
    assert_eq!(batch.sid, first.sid);
    assert!(batch.utm.is_some());

    // 31 more: a new one, direct.
    b.advance(31.0 * MIN);
    b.input();
    b.track_named("back");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_ne!(batch.sid, first.sid);
    assert_eq!(batch.vid, first.vid);
    assert!(batch.utm.is_none() && batch.ec.is_none());
    assert_eq!(b.cookie(SID).as_deref(), Some(batch.sid.as_str()));
    assert_eq!(b.page().storage.clone().unwrap(), format!("{}\n\n", batch.sid));
}

#[test]
fn a_page_load_after_the_session_expired_starts_a_new_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    let first = b.batches().remove(0);
    b.leave();
    b.advance(31.0 * MIN);
    b.open("https://shop.example/again");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_ne!(batch.sid, first.sid);
    assert_eq!(batch.vid, first.vid);
    assert!(batch.utm.is_none(), "the old campaign is not carried over");
}

#[test]
fn a_session_another_tab_started_is_followed() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    // Another tab landed from an ad: its session in the cookie and storage.
    let other = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
    {
        let mut p = b.page();
        p.write_cookie(&format!("ktra_sid={other}; Path=/; Max-Age=1800; SameSite=Lax; Secure"));
        p.storage = Some(format!("{other}\nE9\n{{\"source\":\"ads\"}}"));
    }
    b.advance(61_000.0);
    b.input();
    b.track_named("here");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_eq!(batch.sid, other);
    assert_eq!(batch.ec.as_deref(), Some("E9"));
    assert_eq!(batch.utm.unwrap().source.as_deref(), Some("ads"));
    assert_eq!(b.cookie(SID).as_deref(), Some(other));
}

/// The visitor withdraws in another tab: that tab's `stop()` deletes
/// `ktra_vid` and `ktra_sid`. This tab's pixel, on its next activity, must
/// not set them again: it stops and sends nothing more.
#[test]
fn a_withdrawal_in_another_tab_stops_this_tab_without_setting_cookies_again() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    {
        let mut p = b.page();
        p.write_cookie("ktra_vid=; Path=/; Max-Age=0; SameSite=Lax; Secure");
        p.write_cookie("ktra_sid=; Path=/; Max-Age=0; SameSite=Lax; Secure");
    }
    let sent = b.sent().len();
    b.advance(61_000.0);
    b.input();
    b.track_named("after the withdrawal elsewhere");
    b.advance(5_000.0);
    assert!(!b.running(), "the pixel stopped");
    assert_eq!(b.cookie(VID), None);
    assert_eq!(b.cookie(SID), None);
    assert_eq!(b.sent().len(), sent, "nothing sent after the withdrawal");
}

/// Tab A sits in the background for 35 minutes while the visitor keeps
/// browsing in tab B, whose pixel keeps `ktra_sid` alive. Back in tab A it
/// is the same visit: the session must go on.
#[test]
fn an_idle_tab_joins_the_session_another_tab_kept_alive() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);
    for _ in 0..7 {
        b.advance(5.0 * MIN);
        // Tab B's pixel refreshing the shared session cookie.
        let w = format!("ktra_sid={}; Path=/; Max-Age=1800; SameSite=Lax; Secure", first.sid);
        b.page().write_cookie(&w);
    }
    b.input();
    b.track_named("back in tab A");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_eq!(batch.sid, first.sid);
    assert_eq!(batch.utm, first.utm);
}

/// The visitor reads for a while, leaves the tab idle for 40 minutes and
/// then closes it: the engagement belongs to the page view's session, and
/// no session starts without any activity.
#[test]
fn leaving_after_30_idle_minutes_starts_no_phantom_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.settle();
    let first = b.batches().remove(0);
    b.advance(40.0 * MIN);
    b.pagehide();
    let last = b.batches().pop().unwrap();
    assert_eq!(kinds_of(&last), ["engagement"]);
    assert_eq!(last.sid, first.sid, "the engagement of the session's page view");
    assert_eq!(last.utm, first.utm);
    assert!(b.page().storage.clone().unwrap().starts_with(&first.sid), "no new session stored");
}

/// A tab hidden for over 30 minutes and shown again: the visitor comes
/// back, a new (direct) session.
#[test]
fn coming_back_to_a_tab_after_30_minutes_is_a_new_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.settle();
    let first = b.batches().remove(0);
    b.set_hidden(true);
    b.advance(31.0 * MIN);
    b.set_hidden(false);
    b.track_named("back");
    b.settle();
    let last = b.batches().pop().unwrap();
    assert_eq!(kinds_of(&last), ["custom"]);
    assert_ne!(last.sid, first.sid);
    assert!(last.utm.is_none());
}

#[test]
fn campaign_and_email_click_id_are_on_every_batch_of_the_session() {
    let mut b = Browser::booted("https://shop.example/?utm_campaign=spring+sale&ktra_ec=EC_7");
    b.settle();
    b.track_named("a");
    b.settle();
    b.navigate("https://shop.example/next");
    b.settle();
    b.track_named("b");
    b.pagehide();
    b.open("https://shop.example/third");
    b.advance(1_000.0);
    let batches = b.batches();
    assert_eq!(batches.len(), 5);
    for batch in &batches {
        assert_eq!(batch.ec.as_deref(), Some("EC_7"));
        assert_eq!(batch.utm.as_ref().unwrap().campaign.as_deref(), Some("spring sale"));
        assert_eq!(batch.sid, batches[0].sid);
    }
}

// ---------------------------------------------------------------------------
// Email clicks
// ---------------------------------------------------------------------------

#[test]
fn an_email_click_is_reported_once_and_leaves_the_address_bar() {
    let landing = "https://shop.example/mail?x=1&ktra_ec=EC_42&utm_source=news%20letter#frag";
    let clean = "https://shop.example/mail?x=1&utm_source=news%20letter#frag";
    let mut b = Browser::at(landing);
    b.boot();
    assert_eq!(b.page().href, clean);
    assert!(b.page().log.iter().any(|(op, s, _)| *op == Op::Strip && s == "ktra_ec"));
    b.navigate(clean); // a router's own replaceState with the same URL
    b.advance(1_000.0);
    let batch = &b.batches()[0];
    assert_eq!(kinds_of(batch), ["email_click", "page_view"], "no second page view");
    assert_eq!(batch.events[0].click_id.as_deref(), Some("EC_42"));
    assert_eq!(batch.events[1].url.as_deref(), Some(clean));
    assert_eq!(batch.ec.as_deref(), Some("EC_42"));
    assert_eq!(batch.utm.as_ref().unwrap().source.as_deref(), Some("news letter"));
}

#[test]
fn reloading_after_an_email_click_sends_no_second_one() {
    let landing = "https://shop.example/mail?ktra_ec=EC_42";
    let mut b = Browser::booted(landing);
    b.advance(1_000.0);
    let sid = b.batches()[0].sid.clone();
    b.advance(MIN);
    b.open("https://shop.example/mail"); // a reload of the clean URL
    b.advance(MIN);
    b.open(landing); // back to the history entry with the id
    b.advance(1_000.0);
    assert_eq!(b.of_kind("email_click").len(), 1);
    assert_eq!(b.of_kind("page_view").len(), 3);
    assert!(b.batches().iter().all(|x| x.sid == sid && x.ec.as_deref() == Some("EC_42")));
}

#[test]
fn an_invalid_email_click_id_is_ignored() {
    let mut b = Browser::booted("https://shop.example/?ktra_ec=bad%20id");
    b.advance(1_000.0);
    assert_eq!(b.kinds(), ["page_view"]);
    assert!(b.batches()[0].ec.is_none());
}

// ---------------------------------------------------------------------------
// SPA navigations
// ---------------------------------------------------------------------------

#[test]
fn an_spa_navigation_is_a_page_view_100_ms_later_with_the_previous_url_as_referrer() {
    let mut b = Browser::booted(LANDING);
    b.advance(2_000.0);
    b.deliver_all();
    let t = b.now();
    b.navigate("https://shop.example/products");
    b.advance(50.0);
    b.page().title = "Products".into(); // the app sets it after pushState
    b.advance(1_050.0);
    let batch = b.batches().pop().unwrap();
    assert_eq!(kinds_of(&batch), ["engagement", "page_view"]);
    let (eng, pv) = (&batch.events[0], &batch.events[1]);
    assert_eq!(eng.url.as_deref(), Some(LANDING), "engagement of the previous page");
    assert_eq!(eng.engaged_ms, Some(2_100));
    assert_eq!(pv.url.as_deref(), Some("https://shop.example/products"));
    assert_eq!(pv.referrer.as_deref(), Some(LANDING));
    assert_eq!(pv.title.as_deref(), Some("Products"));
    assert_eq!(pv.ts, Some((t + 100.0) as i64));
}

#[test]
fn same_url_or_anchor_change_is_no_page_view_but_a_hash_route_is() {
    let mut b = Browser::booted(LANDING);
    b.navigate(LANDING);
    b.advance(200.0);
    b.navigate("https://shop.example/landing?q=1#section");
    b.advance(200.0);
    assert_eq!(b.page().log.iter().filter(|(op, _, _)| *op == Op::Title).count(), 1, "one page view so far");
    b.navigate("https://shop.example/landing?q=1#/cart");
    b.advance(200.0);
    b.navigate("https://shop.example/landing?q=2");
    b.advance(1_000.0);
    let urls: Vec<String> = b.of_kind("page_view").into_iter().map(|e| e.url.unwrap()).collect();
    assert_eq!(urls, [LANDING, "https://shop.example/landing?q=1#/cart", "https://shop.example/landing?q=2"]);
}

#[test]
fn an_event_right_after_a_navigation_belongs_to_the_new_page() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    b.navigate("https://shop.example/b");
    b.advance(30.0);
    b.click("https://other.example/offer");
    b.advance(1_000.0);
    let evs: Vec<(String, String)> = b.events()[1..].iter().map(|e| (e.kind.clone(), e.url.clone().unwrap())).collect();
    let b_url = "https://shop.example/b";
    let expect: Vec<(String, String)> = [("engagement", LANDING), ("page_view", b_url), ("outbound_click", b_url)]
        .iter()
        .map(|(k, u)| (k.to_string(), u.to_string()))
        .collect();
    assert_eq!(evs, expect);
}

#[test]
fn quick_redirects_collapse_into_one_page_view() {
    let mut b = Browser::booted(LANDING);
    b.navigate("https://shop.example/a"); // pushState
    b.advance(30.0);
    b.navigate("https://shop.example/b"); // replaceState by a router redirect
    b.advance(30.0);
    b.navigate("https://shop.example/c");
    b.advance(30.0);
    b.navigate(LANDING); // and back: nothing
    b.settle();
    assert_eq!(b.of_kind("page_view").len(), 1);
    b.navigate("https://shop.example/a");
    b.advance(50.0);
    b.navigate("https://shop.example/b");
    b.settle();
    let pv = b.of_kind("page_view");
    assert_eq!(pv.len(), 2);
    assert_eq!(pv[1].url.as_deref(), Some("https://shop.example/b"));
    assert_eq!(pv[1].referrer.as_deref(), Some(LANDING));
}

/// The app's router rewrites the URL (`replaceState`) right after the
/// loader's `start`, before the start task ran: one page view of the page,
/// with the document's referrer.
#[test]
fn a_url_change_before_the_start_task_is_one_page_view() {
    let mut b = Browser::at("https://shop.example/");
    b.start_default();
    b.page().href = "https://shop.example/home".into();
    b.advance(1_000.0);
    let pv = b.of_kind("page_view");
    let urls: Vec<&str> = pv.iter().map(|e| e.url.as_deref().unwrap()).collect();
    let mut unique = urls.clone();
    unique.dedup();
    assert_eq!(urls, unique, "a page view twice");
    assert_eq!(pv[0].referrer.as_deref(), Some(REFERRER), "the visit's referrer");
}

// ---------------------------------------------------------------------------
// Scroll depth
// ---------------------------------------------------------------------------

/// Scroll depths reported, in event time order (bodies waiting for a fetch
/// go newest first).
fn depths(b: &Browser) -> Vec<(u8, String)> {
    let mut s = b.of_kind("scroll");
    s.sort_by_key(|e| e.ts);
    s.into_iter().map(|e| (e.depth.unwrap(), e.url.unwrap())).collect()
}

#[test]
fn scroll_depths_are_reported_once_each_per_page_view() {
    let mut b = Browser::booted(LANDING); // 800 px viewport, 4000 px page
    b.advance(300.0);
    let reads = |b: &Browser| b.page().log.iter().filter(|(op, _, _)| *op == Op::Scrolled).count();
    assert_eq!(reads(&b), 1, "measured 300 ms after the start");
    b.scroll_to(100.0);
    b.advance(100.0);
    b.scroll_to(150.0);
    b.advance(100.0);
    b.scroll_to(200.0); // 25 %
    b.advance(50.0);
    assert_eq!(reads(&b), 2, "scrolls coalesce into one measure after 250 ms");
    b.scroll_to(1_300.0); // 52 %
    b.advance(250.0);
    b.scroll_to(0.0);
    b.advance(250.0);
    b.scroll_to(3_200.0); // the bottom
    b.advance(250.0);
    b.scroll_to(3_200.0);
    b.advance(250.0);
    b.navigate("https://shop.example/next");
    b.page().scroll_y = 0.0;
    b.advance(600.0);
    b.scroll_to(1_000.0); // 45 % of the next page
    b.settle();
    let next = "https://shop.example/next".to_string();
    let l = LANDING.to_string();
    assert_eq!(depths(&b), [(25, l.clone()), (50, l.clone()), (75, l.clone()), (90, l.clone()), (100, l), (25, next)]);
}

#[test]
fn a_page_shorter_than_the_viewport_reports_all_depths() {
    let mut b = Browser::at(LANDING);
    b.page().doc_h = 600.0;
    b.boot();
    b.advance(1_000.0);
    let d: Vec<u8> = depths(&b).into_iter().map(|(d, _)| d).collect();
    assert_eq!(d, [25, 50, 75, 90, 100]);
    assert!(b.of_kind("scroll").iter().all(|e| e.ts == Some(T0 as i64 + 300)));
}

// ---------------------------------------------------------------------------
// Videos
// ---------------------------------------------------------------------------

fn video_events(b: &Browser) -> Vec<(String, Option<u8>, String)> {
    b.events()
        .into_iter()
        .filter(|e| e.kind.starts_with("video"))
        .map(|e| (e.kind, e.percent, e.video_id.unwrap()))
        .collect()
}

#[test]
fn video_milestones_once_each_per_page_view_and_video() {
    let mut b = Browser::booted(LANDING);
    let src = "https://cdn.example/intro.mp4";
    b.media("play", "VIDEO", "intro", src, 0.0, 200.0);
    b.media("timeupdate", "VIDEO", "intro", src, 60.0, 200.0); // 30 %
    b.media("timeupdate", "VIDEO", "intro", src, 160.0, 200.0); // 80 %: 50 and 75
    b.media("timeupdate", "VIDEO", "intro", src, 170.0, 200.0);
    b.media("ended", "VIDEO", "intro", src, 200.0, 200.0);
    b.media("play", "VIDEO", "intro", src, 0.0, 200.0); // watched again
    b.media("timeupdate", "VIDEO", "intro", src, 100.0, 200.0);
    b.media("ended", "VIDEO", "intro", src, 200.0, 200.0);
    // A second video without id: its source names it.
    b.media("play", "VIDEO", "", "https://cdn.example/b.mp4", 0.0, 10.0);
    b.navigate("https://shop.example/next");
    b.advance(100.0);
    b.media("play", "VIDEO", "intro", src, 0.0, 200.0); // a new page view
    b.advance(1_000.0);
    let s = |k: &str, p: Option<u8>, id: &str| (k.to_string(), p, id.to_string());
    assert_eq!(
        video_events(&b),
        [
            s("video_start", None, "intro"),
            s("video_progress", Some(25), "intro"),
            s("video_progress", Some(50), "intro"),
            s("video_progress", Some(75), "intro"),
            s("video_complete", None, "intro"),
            s("video_start", None, "https://cdn.example/b.mp4"),
            s("video_start", None, "intro"),
        ]
    );
}

#[test]
fn audio_unknown_durations_and_unnamed_videos_are_ignored() {
    let mut b = Browser::booted(LANDING);
    b.media("play", "AUDIO", "podcast", "https://cdn.example/p.mp3", 0.0, 100.0);
    b.media("timeupdate", "AUDIO", "podcast", "https://cdn.example/p.mp3", 90.0, 100.0);
    b.media("timeupdate", "VIDEO", "live", "", 50.0, f64::INFINITY); // a live stream
    b.media("timeupdate", "VIDEO", "meta", "", 50.0, f64::NAN); // metadata not loaded: 0
    b.media("play", "VIDEO", "", "", 0.0, 10.0);
    b.settle();
    assert_eq!(b.kinds(), ["page_view"]);
    b.media("play", "VIDEO", "live", "", 0.0, f64::INFINITY);
    b.settle();
    assert_eq!(video_events(&b), [("video_start".to_string(), None, "live".to_string())]);
}

// ---------------------------------------------------------------------------
// Clicks, forms
// ---------------------------------------------------------------------------

#[test]
fn clicks_on_links_to_other_hosts_are_outbound() {
    let mut b = Browser::booted(LANDING);
    b.click("https://other.example/offer?x=1");
    b.click("http://other.example/");
    b.click("https://shop.example/cart");
    b.click("https://www.shop.example/");
    b.click("mailto:a@b.example");
    b.click("tel:+123");
    b.page_event(ev::CLICK, &[], 0.0, 0.0); // not on a link
    b.advance(1_000.0);
    let targets: Vec<String> = b.of_kind("outbound_click").into_iter().map(|e| e.target.unwrap()).collect();
    assert_eq!(targets, ["https://other.example/offer?x=1", "http://other.example/"]);

    let mut b = Browser::booted("https://www.shop.example/");
    b.click("https://shop.example/x");
    b.advance(1_000.0);
    assert!(b.of_kind("outbound_click").is_empty(), "www. aside");
}

#[test]
fn auxclick_is_outbound_only_for_the_middle_button() {
    let mut b = Browser::booted(LANDING);
    b.click_link("https://other.example/1", 1.0, true);
    b.click_link("https://other.example/2", 2.0, true);
    b.click_link("https://other.example/3", 3.0, true);
    b.advance(1_000.0);
    let targets: Vec<String> = b.of_kind("outbound_click").into_iter().map(|e| e.target.unwrap()).collect();
    assert_eq!(targets, ["https://other.example/1"]);
}

#[test]
fn forms_report_their_field_names() {
    let mut b = Browser::booted(LANDING);
    let long = "n".repeat(100);
    b.submit(
        Some("signup"),
        Some("signup-form"),
        "https://shop.example/join",
        None,
        &["email", "name", "email", "", &long, "plan"],
    );
    b.submit(None, Some("search"), "https://shop.example/s", None, &["q"]);
    b.submit(None, None, "https://shop.example/x", None, &[]);
    let many: Vec<String> = (0..60).map(|i| format!("f{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    b.submit(Some("big"), None, "https://shop.example/big", None, &many);
    b.advance(1_000.0);
    let forms = b.of_kind("form_submit");
    assert_eq!(forms.len(), 4);
    assert_eq!(forms[0].form_id.as_deref(), Some("signup"));
    assert_eq!(forms[0].form_action.as_deref(), Some("https://shop.example/join"));
    assert_eq!(forms[0].fields.as_deref().unwrap(), ["email", "name", "n".repeat(64).as_str(), "plan"]);
    assert_eq!(forms[1].form_id.as_deref(), Some("search"), "the name when there is no id");
    assert_eq!(forms[2].form_id, None);
    assert_eq!(forms[2].fields.as_deref().unwrap(), [] as [&str; 0]);
    assert_eq!(forms[3].fields.as_ref().unwrap().len(), 50);
    assert!(b.of_kind("identify").is_empty(), "plain forms do not identify");
}

#[test]
fn identify_forms_send_the_normalised_email() {
    let mut b = Browser::booted(LANDING);
    let action = "https://shop.example/join";
    b.submit(Some("f1"), None, action, Some("  Ann@Shop.Example "), &["work_email", "pw"]);
    b.submit(Some("f2"), None, action, Some("not-an-email"), &["email"]);
    b.submit(Some("f3"), None, action, Some(""), &["name"]);
    b.advance(1_000.0);
    assert_eq!(b.of_kind("form_submit").len(), 3);
    let ids = b.of_kind("identify");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].email.as_deref(), Some("ann@shop.example"));
    assert!(!b.sent()[0].body.contains("not-an-email"), "a value is never sent as such");
}

// ---------------------------------------------------------------------------
// The API: track, purchase, identify
// ---------------------------------------------------------------------------

#[test]
fn track_keeps_strings_finite_numbers_and_booleans() {
    let mut b = Browser::booted(LANDING);
    let long_key = "k".repeat(65);
    let long_key: &str = &long_key;
    b.track(
        S("  signup "),
        &[
            ("plan", S("pro")),
            ("seats", N(3.0)),
            ("ratio", N(1.5e-7)),
            ("huge", N(1e21)),
            ("trial", B(true)),
            ("nan", N(f64::NAN)),
            ("inf", N(f64::INFINITY)),
            ("nothing", Null),
            ("", S("empty key")),
            (long_key, S("long key")),
            ("long", S(Box::leak("é".repeat(300).into_boxed_str()))),
        ],
    );
    b.track(S("   "), &[]);
    b.track(N(5.0), &[]); // not a name
    let many: Vec<String> = (0..40).map(|i| format!("p{i:02}")).collect();
    let props: Vec<(&str, Js)> = many.iter().map(|k| (k.as_str(), N(1.0))).collect();
    b.track(S("many"), &props);
    b.advance(1_000.0);
    let c = b.of_kind("custom");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].name.as_deref(), Some("signup"));
    let p = c[0].props.clone().unwrap();
    let keys: Vec<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(keys, ["huge", "long", "plan", "ratio", "seats", "trial"]);
    assert_eq!(p["plan"], PropValue::Str("pro".into()));
    assert_eq!(p["seats"], PropValue::Num(3.0));
    assert_eq!(p["ratio"], PropValue::Num(1.5e-7));
    assert_eq!(p["huge"], PropValue::Num(1e21));
    assert_eq!(p["trial"], PropValue::Bool(true));
    match &p["long"] {
        PropValue::Str(s) => assert!(s.len() <= 512 && s.chars().all(|c| c == 'é'), "cut on a char boundary"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c[1].props.as_ref().unwrap().len(), 32, "at most 32 props");
}

#[test]
fn purchases_are_normalised() {
    let mut b = Browser::booted(LANDING);
    b.purchase(&[
        ("order_id", S("A-1")),
        ("value", S("49.90")),
        ("currency", S(" eur ")),
        ("product_id", N(77.0)),
        ("product_name", S("Course \"Pro\"")),
        ("coupon", S("SPRING")),
        ("qty", N(2.0)),
        ("gift", B(false)),
    ]);
    b.purchase(&[("order_id", N(1001.0)), ("value", N(10.0)), ("currency", S("usd"))]);
    b.advance(1_000.0);
    let p = b.of_kind("purchase");
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].order_id.as_deref(), Some("A-1"));
    assert_eq!(p[0].value, Some(49.9));
    assert_eq!(p[0].currency.as_deref(), Some("EUR"));
    assert_eq!(p[0].product_id.as_deref(), Some("77"));
    assert_eq!(p[0].product_name.as_deref(), Some("Course \"Pro\""));
    assert_eq!(prop(&p[0], "coupon"), Some(PropValue::Str("SPRING".into())));
    assert_eq!(prop(&p[0], "qty"), Some(PropValue::Num(2.0)));
    assert_eq!(prop(&p[0], "gift"), Some(PropValue::Bool(false)));
    assert_eq!(p[0].props.as_ref().unwrap().len(), 3, "the order's own fields are not props");
    assert_eq!(p[1].order_id.as_deref(), Some("1001"));
    assert_eq!((p[1].value, p[1].currency.as_deref()), (Some(10.0), Some("USD")));
    assert!(p[1].props.is_none());
}

#[test]
fn a_purchase_without_order_id_is_not_sent_and_bad_values_are_left_out() {
    let mut b = Browser::booted(LANDING);
    for order_id in [None, Some(S("")), Some(N(f64::NAN)), Some(B(true)), Some(Null)] {
        let mut o = vec![("value", N(10.0)), ("currency", S("EUR"))];
        if let Some(id) = order_id {
            o.push(("order_id", id));
        }
        b.purchase(&o);
    }
    for value in [S("abc"), N(f64::NAN), N(f64::INFINITY), B(true), S("  ")] {
        b.purchase(&[("order_id", S("V")), ("value", value), ("currency", S("EUR"))]);
    }
    b.advance(1_000.0);
    // Sent without a value, these are the collector's to reject.
    let p: Vec<RawEvent> = b.unchecked_events().into_iter().filter(|e| e.kind == "purchase").collect();
    assert_eq!(p.len(), 5, "only those with an order id");
    assert!(p.iter().all(|e| e.order_id.as_deref() == Some("V") && e.value.is_none()));
}

#[test]
fn identify_takes_an_email_or_a_lead_id() {
    let mut b = Browser::booted(LANDING);
    b.identify(&[("email", S(" A@B.Example "))]);
    b.identify(&[("lead_id", N(42.0))]);
    b.identify(&[("lead_id", S("L-7")), ("email", S("x@y.example"))]);
    b.identify(&[("email", S("nope"))]);
    b.identify(&[("email", N(5.0))]);
    b.identify(&[("lead_id", N(f64::NAN))]);
    b.identify(&[]);
    b.advance(1_000.0);
    let got: Vec<(Option<String>, Option<String>)> =
        b.of_kind("identify").into_iter().map(|e| (e.email, e.lead_id)).collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(got, [(some("a@b.example"), None), (None, some("42")), (some("x@y.example"), some("L-7"))]);
}

// ---------------------------------------------------------------------------
// Consent expiry and stop
// ---------------------------------------------------------------------------

fn assert_gone(b: &Browser) {
    assert!(!b.running());
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());
    assert!(b.last_write(VID).contains("Max-Age=0") && b.last_write(SID).contains("Max-Age=0"));
    assert!(b.page().storage.is_none());
    assert!(!b.page().listening);
    assert!(b.timers().is_empty(), "timer left: {:?}", b.timers());
}

#[test]
fn any_event_after_consent_expiry_stops_the_pixel_and_sends_nothing() {
    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 60.0;
    b.boot();
    b.advance(1_000.0);
    b.deliver_all();
    b.advance(58_500.0);
    b.track_named("queued before expiry");
    b.advance(500.0); // 60 s: the consent ends, the flush is still due
    let mark = b.mark();
    b.input();
    let ops = b.ops_since(mark);
    assert!(ops.contains(&Op::ClearTimers) && ops.contains(&Op::Unstore), "{ops:?}");
    assert!(!ops.contains(&Op::Fetch) && !ops.contains(&Op::Beacon));
    assert_gone(&b);
    b.pagehide();
    b.track_named("after");
    b.advance(10.0 * MIN);
    assert_eq!(b.sent().len(), 1, "only the page view, sent before");
}

#[test]
fn the_flush_timer_after_consent_expiry_stops_instead_of_sending() {
    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 60.0;
    b.boot();
    b.advance(59_500.0);
    b.deliver_all();
    b.track_named("late");
    b.advance(2_000.0);
    assert_gone(&b);
    assert_eq!(b.of_kind("custom").len(), 0);
}

#[test]
fn stop_removes_everything_and_nothing_is_sent_afterwards() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0); // a fetch under way
    for _ in 0..3 {
        b.track_named("queued");
    }
    b.stop();
    assert_gone(&b);
    let mark = b.mark();
    b.respond(503, None); // the fetch settles
    for task in ["i", "f", "r", "n", "s"] {
        b.call(ev::TIMER, &[Some(task)], 0.0, 0.0); // timers already queued
    }
    for code in [ev::NAV, ev::ACTIVE, ev::SCROLL, ev::HIDE, ev::CLICK, ev::SUBMIT, ev::MEDIA] {
        b.call(code, &[Some("https://other.example/")], 0.0, 1.0);
    }
    b.track_named("after");
    b.purchase(&[("order_id", S("A")), ("value", N(1.0)), ("currency", S("EUR"))]);
    b.identify(&[("email", S("a@b.example"))]);
    b.advance(10.0 * MIN);
    assert!(b.ops_since(mark).is_empty(), "{:?}", b.ops_since(mark));
    assert_eq!(b.sent().len(), 1, "the queued events were dropped");
    assert!(!b.running());
}

#[test]
fn leaving_the_page_detaches_but_keeps_cookies_and_storage() {
    let mut b = Browser::booted(LANDING);
    let (vid, sid) = (b.cookie(VID), b.cookie(SID));
    let mark = b.mark();
    b.leave();
    let ops = b.ops_since(mark);
    assert_eq!(ops, [Op::Listen, Op::ClearTimers]);
    assert_eq!((b.cookie(VID), b.cookie(SID)), (vid, sid));
    assert!(b.page().storage.is_some());
}
