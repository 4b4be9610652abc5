//! The simulated page: what `src/web/host.js` does on a real one, as the
//! pixel's [`Host`] — a cookie jar with `Max-Age`, `localStorage`,
//! `URLSearchParams`, the `ktra_ec` strip, one timer per task, `fetch` that
//! settles only when a test says so, `sendBeacon` that may refuse, seeded
//! randomness. Every call is logged under its [`Op`] (the ABI's name for
//! it), so that scenarios can say what the pixel asked of the page.
use super::{REFERRER, T0};
use crate::abi::Op;
use crate::host::{Host, Task};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// How a body left the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Fetch,
    Beacon,
}

/// A request body the page sent (a fetch started, or a beacon the browser took).
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) via: Via,
    pub(crate) body: String,
    /// Page time when it was sent.
    pub(crate) at: f64,
}

pub(crate) struct Cookie {
    pub(crate) name: String,
    pub(crate) value: String,
    /// Page time it expires at.
    pub(crate) expires: f64,
}

/// A `setTimeout` of host.js's SET_TIMER: one per task.
pub(crate) struct Timer {
    /// Creation order (equal due times fire in it).
    pub(crate) id: u32,
    pub(crate) task: Task,
    pub(crate) due: f64,
}

/// Everything the page knows.
pub(crate) struct Page {
    pub(crate) now: f64,
    pub(crate) href: String,
    pub(crate) referrer: String,
    pub(crate) title: String,
    pub(crate) jar: Vec<Cookie>,
    /// Every `document.cookie = …` assignment, in order.
    pub(crate) cookie_writes: Vec<String>,
    /// `localStorage["ktra_sess"]`.
    pub(crate) storage: Option<String>,
    /// Listeners and history proxies attached.
    pub(crate) listening: bool,
    pub(crate) timers: Vec<Timer>,
    pub(crate) timer_ids: u32,
    pub(crate) endpoint: String,
    /// Fetches under way (body, `n`), oldest first.
    pub(crate) inflight: VecDeque<(String, u32)>,
    pub(crate) sent: Vec<Sent>,
    /// Whether `sendBeacon` takes bodies.
    pub(crate) beacon_ok: bool,
    pub(crate) rng: u64,
    pub(crate) hidden: bool,
    pub(crate) scroll_y: f64,
    pub(crate) view_h: f64,
    pub(crate) doc_h: f64,
    /// Every call of the pixel: its op, string and number.
    pub(crate) log: Vec<(Op, String, f64)>,
}

impl Page {
    pub(crate) fn new(url: &str) -> Page {
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
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.jar.iter().find(|c| c.name == name && c.expires > self.now).map(|c| c.value.clone())
    }

    /// `document.cookie = s` for `name=value; Path=/; Max-Age=N; SameSite=Lax[; Secure]`.
    pub(crate) fn write_cookie(&mut self, s: &str) {
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
    pub(crate) fn bits(&mut self) -> u32 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 32) as u32
    }

    /// host.js UUID: 16 random bytes as a version 4 UUID, lower case.
    pub(crate) fn uuid(&mut self) -> String {
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
    pub(crate) fn scrolled(&self) -> f64 {
        let seen = self.scroll_y.max(0.0) + self.view_h;
        if seen + 2.0 >= self.doc_h {
            100.0
        } else {
            seen / self.doc_h * 100.0
        }
    }
}

/// host.js PARAM: `URLSearchParams(location.search).get(name)?.trim()`.
pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    crate::url::test_param(url)(name).map(|v| v.trim().to_string())
}

/// `location.protocol` of an absolute URL (`https:`).
pub(crate) fn protocol(url: &str) -> &str {
    url.find(':').map_or("", |i| &url[..=i])
}

/// `location.hostname` of an absolute URL (empty for `mailto:` and the like).
pub(crate) fn hostname(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("//") else { return "" };
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.split(':').next().unwrap_or("")
}

/// `host.js`'s STRIP: `url` without the query parameter `name` (every
/// occurrence), the other parameters and the fragment as written; `None`
/// when it has none.
pub(crate) fn strip(url: &str, name: &str) -> Option<String> {
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
pub(crate) struct Sim(pub(crate) Rc<RefCell<Page>>);

impl Sim {
    /// The page, after logging a call.
    fn call(&self, op: Op, s: &str, n: f64) -> std::cell::RefMut<'_, Page> {
        let mut p = self.0.borrow_mut();
        p.log.push((op, s.to_string(), n));
        p
    }
}

impl Host for Sim {
    fn href(&self) -> String {
        self.call(Op::Href, "", 0.0).href.clone()
    }
    fn referrer(&self) -> String {
        self.call(Op::Referrer, "", 0.0).referrer.clone()
    }
    fn title(&self) -> String {
        self.call(Op::Title, "", 0.0).title.clone()
    }
    fn param(&self, name: &str) -> Option<String> {
        param(&self.call(Op::Param, name, 0.0).href, name)
    }
    fn campaign(&self) -> String {
        let p = self.call(Op::Campaign, "", 0.0);
        crate::url::utm_json(|name| param(&p.href, name))
    }
    fn hidden(&self) -> bool {
        self.call(Op::Hidden, "", 0.0).hidden
    }
    fn scrolled(&self) -> f64 {
        self.call(Op::Scrolled, "", 0.0).scrolled()
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.call(Op::Cookie, name, 0.0).cookie(name)
    }
    fn set_cookie(&self, name_value: &str, max_age_s: u64) {
        let mut p = self.call(Op::SetCookie, name_value, max_age_s as f64);
        // host.js adds the attributes.
        let secure = if protocol(&p.href) == "https:" { "; Secure" } else { "" };
        p.write_cookie(&format!("{name_value}; Path=/; Max-Age={max_age_s}; SameSite=Lax{secure}"));
    }
    fn stored(&self) -> String {
        self.call(Op::Stored, "", 0.0).storage.clone().unwrap_or_default()
    }
    fn store(&self, session: &str) {
        self.call(Op::Store, session, 0.0).storage = Some(session.to_string());
    }
    fn unstore(&self) {
        self.call(Op::Unstore, "", 0.0).storage = None;
    }
    fn strip_param(&self, name: &str) -> bool {
        let mut p = self.call(Op::Strip, name, 0.0);
        let Some(href) = strip(&p.href, name) else { return false };
        p.href = href;
        true
    }
    fn listen(&self, on: bool) {
        self.call(Op::Listen, "", f64::from(u8::from(on))).listening = on;
    }
    fn set_timer(&self, task: Task, ms: f64) {
        let mut p = self.call(Op::SetTimer, &format!("{task:?}"), ms);
        // One timer per task; an earlier request replaces a later one.
        let due = p.now + ms;
        if p.timers.iter().all(|t| t.task != task || due < t.due) {
            p.timers.retain(|t| t.task != task);
            p.timer_ids += 1;
            let id = p.timer_ids;
            p.timers.push(Timer { id, task, due });
        }
    }
    fn clear_timers(&self) {
        self.call(Op::ClearTimers, "", 0.0).timers.clear();
    }
    fn set_endpoint(&self, url: &str) {
        self.call(Op::Endpoint, url, 0.0).endpoint = url.to_string();
    }
    fn fetch(&self, body: &str, request: u32) -> bool {
        let mut p = self.call(Op::Fetch, body, f64::from(request));
        p.inflight.push_back((body.to_string(), request));
        let at = p.now;
        p.sent.push(Sent { via: Via::Fetch, body: body.to_string(), at });
        true
    }
    fn beacon(&self, body: &str) -> bool {
        let mut p = self.call(Op::Beacon, body, 0.0);
        if !p.beacon_ok {
            return false;
        }
        let at = p.now;
        p.sent.push(Sent { via: Via::Beacon, body: body.to_string(), at });
        true
    }
    fn random(&self) -> f64 {
        f64::from(self.call(Op::Random, "", 0.0).bits()) / 4_294_967_296.0 // Math.random()
    }
    fn uuid(&self) -> String {
        self.call(Op::Uuid, "", 0.0).uuid()
    }
}

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
}
