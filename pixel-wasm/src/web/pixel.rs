//! The running pixel: configuration, visitor and session, the current page
//! view, and start/stop.
use super::hooks::Hooks;
use super::js::{call, call1, construct, get, get_at, get_f64, get_str, global, now, set};
use super::send::{Sender, Task};
use super::STATE;
use crate::batch::{self, Header};
use crate::cookie::{self, SID, VID};
use crate::engage::Engage;
use crate::ids::{is_token_id, uuid_v4};
use crate::json::Obj;
use crate::session::{self, Source, STORAGE_KEY};
use crate::url::{email_click_id, page_key, utm_json, without_param, EMAIL_CLICK_PARAM};
use crate::wire::{kind, MAX_ID_LEN, MAX_TEXT_LEN};
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

/// How often (at most) the session cookie is re-written while active.
const TOUCH_MS: f64 = 60_000.0;
/// Delay between a history change and the page view, so that the new
/// page's title is set and redirects (push then replace) collapse.
const NAV_DELAY_MS: f64 = 100.0;

/// The current page view.
pub struct Page {
    /// Page URL.
    pub url: String,
    /// The page's referrer (the previous URL after an SPA navigation).
    pub referrer: String,
    /// Scroll depths reported (mask over `SCROLL_DEPTHS`).
    pub scroll: u8,
    /// Videos seen on this page view.
    pub videos: Vec<String>,
    /// Marks reported for `videos`, index for index.
    pub video_marks: Vec<u8>,
    /// Engaged time not yet reported.
    pub engage: Engage,
}

/// Everything the running pixel owns.
pub struct Pixel {
    pub win: JsValue,
    pub doc: JsValue,
    storage: JsValue,
    crypto: JsValue,
    /// A reused `Uint32Array(4)` for `crypto.getRandomValues`.
    random: JsValue,
    site: String,
    consent: String,
    /// Consent expiry, Unix seconds.
    exp_s: u64,
    secure: bool,
    vid: String,
    /// When `vid` was created, Unix seconds.
    vid_created: u64,
    sid: String,
    source: Source,
    last_active: f64,
    last_touch: f64,
    /// Where the visit came from, until [`Pixel::init`] used it.
    landing: Option<Source>,
    pub page: Page,
    pub send: Sender,
    hooks: Option<Hooks>,
    /// Inside [`Pixel::navigated`] (its own events must not re-check the URL).
    in_nav: bool,
}

/// Reads `{endpoint, site, token, exp}`; `None` when unusable (no site or
/// endpoint, or the consent already expired).
fn config(cfg: &JsValue, now_ms: f64) -> Option<Config> {
    let endpoint = get_str(cfg, "endpoint");
    let site = get_str(cfg, "site");
    let mut exp = get_f64(cfg, "exp");
    if exp > 1e11 {
        exp /= 1000.0; // given in milliseconds
    }
    if endpoint.is_empty() || site.is_empty() || exp.is_nan() || exp * 1000.0 <= now_ms {
        return None;
    }
    let mut url = endpoint;
    while url.ends_with("/") {
        url.pop();
    }
    url.push_str("/v1/events");
    Some((url, site, get_str(cfg, "token"), exp as u64))
}

type Config = (String, String, String, u64);

/// Starts the pixel, or refreshes the consent of a running one.
///
/// Only cheap work happens in this call (reading the configuration and the
/// landing URL). The rest (listeners, cookies, the stored session, the
/// first events) follows in a task of its own right after: the first touch
/// of `document.cookie` and `localStorage` and the first run of that wasm
/// code take several milliseconds, which the loader's call should not
/// block. An API call arriving before that task runs it first.
pub fn start(cfg: &JsValue) {
    let now = now();
    let Some((endpoint, site, consent, exp_s)) = config(cfg, now) else { return };
    let running = STATE.with(|p| {
        // A renewed consent: new token and expiry for what is sent from
        // now on, and the visitor cookie's life bound to the new expiry.
        p.consent = consent.clone();
        p.exp_s = exp_s;
        p.send.set_prefix(p.header());
        p.set_vid_cookie(now);
    });
    if running.is_some() {
        return;
    }
    let mut p = Pixel::new(endpoint, site, consent, exp_s, now);
    p.send.schedule(Task::Init, now);
    if let Err(p) = STATE.put(p) {
        p.teardown();
    }
}

/// Stops the pixel: listeners, timer, history proxies, queue, cookies and
/// the stored session go. The cookies go even if the state is unusable.
pub fn stop() {
    if let Some(p) = STATE.take() {
        p.teardown();
    }
    let win = global();
    let doc = get(&win, "document");
    let secure = is_https(&win);
    set(&doc, "cookie", &JsValue::from_str(&cookie::set_str(VID, "", 0, secure)));
    set(&doc, "cookie", &JsValue::from_str(&cookie::set_str(SID, "", 0, secure)));
    call1(&get(&win, "localStorage"), "removeItem", &JsValue::from_str(STORAGE_KEY));
}

fn is_https(win: &JsValue) -> bool {
    get_str(&get(win, "location"), "protocol") == "https:"
}

impl Pixel {
    fn new(endpoint: String, site: String, consent: String, exp_s: u64, now: f64) -> Pixel {
        let win = global();
        let doc = get(&win, "document");
        let loc = get(&win, "location");
        let href = get_str(&loc, "href");
        let params = construct("URLSearchParams", &get(&loc, "search"), &JsValue::UNDEFINED).unwrap_or_default();
        let param = |name: &str| call1(&params, "get", &JsValue::from_str(name)).as_string();
        let landing = Source { utm: utm_json(param), ec: email_click_id(param(EMAIL_CLICK_PARAM)) };
        let mut p = Pixel {
            storage: JsValue::UNDEFINED,
            crypto: get(&win, "crypto"),
            random: construct("Uint32Array", &JsValue::from(4), &JsValue::UNDEFINED).unwrap_or_default(),
            secure: is_https(&win),
            send: Sender::new(win.clone(), &endpoint),
            page: Page {
                url: href,
                referrer: get_str(&doc, "referrer"),
                scroll: 0,
                videos: Vec::new(),
                video_marks: Vec::new(),
                engage: Engage::default(),
            },
            win,
            doc,
            site,
            consent,
            exp_s,
            vid: String::new(),
            vid_created: 0,
            sid: String::new(),
            source: Source::default(),
            last_active: now,
            last_touch: now,
            landing: Some(landing),
            hooks: None,
            in_nav: false,
        };
        if !p.hidden() {
            p.page.engage.activity(now);
        }
        p
    }

    /// The start's deferred work: visitor and session, the email click and
    /// the page view. Runs once, from the timer or before the first event.
    pub fn init(&mut self, now: f64) {
        let Some(landing) = self.landing.take() else { return };
        // The email click id has done its job once read: take it out of the
        // address bar (before the history proxies: no second page view).
        if let Some(clean) = without_param(&self.page.url, EMAIL_CLICK_PARAM) {
            let hist = get(&self.win, "history");
            call(&hist, "replaceState", &get(&hist, "state"), &JsValue::from_str(""), &JsValue::from_str(&clean));
            self.page.url = get_str(&get(&self.win, "location"), "href");
        }
        self.hooks = Some(Hooks::install(&self.win));
        self.storage = get(&self.win, "localStorage");
        if self.identify_visitor(&landing, now) && !landing.ec.is_empty() {
            let mut e = self.event(kind::EMAIL_CLICK, now);
            e.str("click_id", &landing.ec, MAX_ID_LEN);
            self.push(e, now);
        }
        self.page_view(now);
        // Measured later still: reading layout may take a while.
        self.send.schedule(Task::Scroll, now + 300.0);
    }

    /// Sets up `ktra_vid`, `ktra_sid` and the session's source. Returns
    /// whether a new session started.
    fn identify_visitor(&mut self, landing: &Source, now: f64) -> bool {
        let now_s = (now / 1000.0) as u64;
        let jar = self.cookies();
        let (vid, created) = match cookie::get(&jar, VID).and_then(|v| cookie::parse_vid(v, now_s)) {
            Some((id, created)) if cookie::vid_max_age(created, now_s, self.exp_s) > 0 => (String::from(id), created),
            _ => (self.uuid(), now_s),
        };
        self.vid = vid;
        self.vid_created = created;
        self.set_vid_cookie(now);
        let live = cookie::get(&jar, SID).filter(|s| is_token_id(s));
        let stored = live.map(|sid| self.stored_source(sid));
        match (live, stored) {
            (Some(sid), Some(stored)) if session::continues(&stored, landing) => {
                self.switch_session(String::from(sid), stored);
                self.refresh_sid(now);
                false
            }
            _ => {
                self.new_session(landing.clone(), now);
                true
            }
        }
    }

    /// Keeps the session alive on activity: re-writes the cookie at most
    /// once a minute, follows a session another tab started, and starts a
    /// new (direct) session after 30 minutes without activity.
    pub fn touch(&mut self, now: f64) {
        if self.landing.is_some() {
            return; // before `init`: no session yet
        }
        let idle = now - self.last_active;
        self.last_active = now;
        if idle < TOUCH_MS && now - self.last_touch < TOUCH_MS {
            return;
        }
        if idle >= (cookie::SESSION_S * 1000) as f64 {
            self.new_session(Source::default(), now);
            return;
        }
        let jar = self.cookies();
        if let Some(s) = cookie::get(&jar, SID).filter(|s| is_token_id(s) && *s != self.sid) {
            // Another tab rolled the session: follow it.
            let source = self.stored_source(s);
            self.switch_session(String::from(s), source);
        }
        self.refresh_sid(now);
    }

    fn new_session(&mut self, source: Source, now: f64) {
        let sid = self.uuid();
        self.switch_session(sid, source);
        let v = session::encode(&self.sid, &self.source);
        call(&self.storage, "setItem", &JsValue::from_str(STORAGE_KEY), &JsValue::from_str(&v), &JsValue::UNDEFINED);
        self.refresh_sid(now);
    }

    fn switch_session(&mut self, sid: String, source: Source) {
        // Queued events belong to the old session: seal them first.
        self.send.seal();
        self.sid = sid;
        self.source = source;
        self.send.set_prefix(self.header());
    }

    fn set_vid_cookie(&self, now: f64) {
        if self.vid.is_empty() {
            return; // not identified yet: `init` will set it
        }
        let max_age = cookie::vid_max_age(self.vid_created, (now / 1000.0) as u64, self.exp_s);
        self.set_cookie(VID, &cookie::vid_value(&self.vid, self.vid_created), max_age);
    }

    fn refresh_sid(&mut self, now: f64) {
        self.last_touch = now;
        let max_age = cookie::sid_max_age((now / 1000.0) as u64, self.exp_s);
        self.set_cookie(SID, &self.sid, max_age);
    }

    /// The source stored for session `sid` (none when missing or stale).
    fn stored_source(&self, sid: &str) -> Source {
        let v = call1(&self.storage, "getItem", &JsValue::from_str(STORAGE_KEY)).as_string().unwrap_or_default();
        session::decode(&v, sid).unwrap_or_default()
    }

    fn cookies(&self) -> String {
        get_str(&self.doc, "cookie")
    }

    fn set_cookie(&self, name: &str, value: &str, max_age_s: u64) {
        set(&self.doc, "cookie", &JsValue::from_str(&cookie::set_str(name, value, max_age_s, self.secure)));
    }

    /// Whether the page is hidden (background tab, minimized).
    pub fn hidden(&self) -> bool {
        get(&self.doc, "hidden") == JsValue::TRUE
    }

    /// The batch prefix for the current visitor, session and consent.
    fn header(&self) -> String {
        Header {
            site: &self.site,
            consent: &self.consent,
            vid: &self.vid,
            sid: &self.sid,
            utm: &self.source.utm,
            ec: &self.source.ec,
        }
        .prefix()
    }

    /// 16 bytes from `crypto.getRandomValues` (the time, should the Web
    /// Crypto API be missing: ids then still differ, if less randomly).
    fn random16(&mut self) -> [u8; 16] {
        call1(&self.crypto, "getRandomValues", &self.random);
        let mut b = [0u8; 16];
        let mut x = (now() * 1000.0) as u32;
        for (i, byte) in (0u32..).zip(b.iter_mut()) {
            let w = get_at(&self.random, i / 4).as_f64().map(|w| w as u32).unwrap_or(x);
            x = x.rotate_left(7) ^ 0x9e37_79b9;
            *byte = (w >> (8 * (i % 4))) as u8;
        }
        b
    }

    /// A fresh UUID v4.
    pub fn uuid(&mut self) -> String {
        uuid_v4(self.random16())
    }

    /// A random number in 0..1.
    pub fn rand01(&mut self) -> f64 {
        f64::from(self.random16()[0]) / 255.0
    }

    /// Starts an event about the current page. An SPA navigation whose
    /// settle delay has not passed yet is taken first, so that an event right
    /// after `pushState` (an autoplaying video, a click) belongs to the new page.
    pub fn event(&mut self, kind: &str, now: f64) -> Obj {
        if !self.in_nav {
            self.navigated(now);
        }
        let id = self.uuid();
        batch::event(kind, &id, now as u64, &self.page.url, &self.page.referrer)
    }

    /// Queues an event (dropped once the consent has expired).
    pub fn push(&mut self, e: Obj, now: f64) {
        if now >= self.exp_ms() {
            return;
        }
        self.init(now);
        self.touch(now);
        self.send.push(e.finish(), now);
    }

    /// Reports a page view of the current page.
    pub fn page_view(&mut self, now: f64) {
        let mut e = self.event(kind::PAGE_VIEW, now);
        e.str("title", &get_str(&self.doc, "title"), MAX_TEXT_LEN);
        self.push(e, now);
    }

    /// Reports engaged time of the current page since the last report.
    pub fn report_engagement(&mut self, now: f64) {
        let ms = self.page.engage.take(now);
        if ms > 0 {
            let mut e = self.event(kind::ENGAGEMENT, now);
            e.int("engaged_ms", ms);
            self.push(e, now);
        }
    }

    /// A history change: look at the URL once it settled.
    pub fn nav_soon(&mut self, now: f64) {
        self.send.schedule(Task::Nav, now + NAV_DELAY_MS);
    }

    /// After `pushState`/`replaceState`/`popstate` settled: a page view if
    /// the URL names another page (engagement of the previous one first).
    pub fn navigated(&mut self, now: f64) {
        let href = get_str(&get(&self.win, "location"), "href");
        if href.is_empty() || page_key(&href) == page_key(&self.page.url) {
            return;
        }
        self.in_nav = true;
        self.report_engagement(now);
        self.page.referrer = core::mem::replace(&mut self.page.url, href);
        self.page.scroll = 0;
        self.page.videos.clear();
        self.page.video_marks.clear();
        self.page_view(now);
        self.in_nav = false;
        self.send.schedule(Task::Scroll, now + 500.0);
    }

    /// Consent expiry, ms since epoch.
    pub fn exp_ms(&self) -> f64 {
        self.exp_s as f64 * 1000.0
    }

    /// Removes everything the pixel attached to the page.
    pub(super) fn teardown(self) {
        if let Some(h) = self.hooks {
            h.remove();
        }
        self.send.cancel();
    }
}
