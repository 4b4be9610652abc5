//! The running pixel: configuration, visitor and session, the current page
//! view, and start/stop.
use super::dom::{get_f64, get_str, now, random16};
use super::hooks::Hooks;
use super::send::Sender;
use super::STATE;
use crate::batch::{self, Header};
use crate::cookie::{self, SID, VID};
use crate::engage::Engage;
use crate::ids::{is_token_id, uuid_v4};
use crate::json::Obj;
use crate::session::{self, STORAGE_KEY};
use crate::url::{page_key, query, without_param, Attrs, EMAIL_CLICK_PARAM};
use crate::wire::{kind, MAX_TEXT_LEN};
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Crypto, Document, HtmlDocument, Storage, Window};

/// How often (at most) the session cookie is re-written while active.
const TOUCH_MS: f64 = 60_000.0;

/// The current page view.
pub struct Page {
    /// Page URL.
    pub url: String,
    /// The page's referrer (the previous URL after an SPA navigation).
    pub referrer: String,
    /// Scroll depths reported (mask over `SCROLL_DEPTHS`).
    pub scroll: u8,
    /// Videos seen: id and reported marks.
    pub videos: Vec<(String, u8)>,
    /// Engaged time not yet reported.
    pub engage: Engage,
}

/// Everything the running pixel owns.
pub struct Pixel {
    pub win: Window,
    pub doc: Document,
    crypto: Option<Crypto>,
    storage: Option<Storage>,
    site: String,
    consent: String,
    /// Consent expiry, Unix seconds.
    exp_s: u64,
    secure: bool,
    vid: String,
    pub sid: String,
    attrs: Attrs,
    cookies_ok: bool,
    last_active: f64,
    last_touch: f64,
    pub page: Page,
    pub send: Sender,
    pub hooks: Option<Hooks>,
}

/// Reads `{endpoint, site, token, exp}`; `None` when unusable (no site or
/// endpoint, or consent already expired).
fn config(cfg: &JsValue, now_ms: f64) -> Option<(String, String, String, u64)> {
    let endpoint = get_str(cfg, "endpoint");
    let site = get_str(cfg, "site");
    let mut exp = get_f64(cfg, "exp");
    if exp > 1e11 {
        exp /= 1000.0; // given in milliseconds
    }
    if endpoint.is_empty() || site.is_empty() || !(exp * 1000.0 > now_ms) {
        return None;
    }
    let mut url = String::from(endpoint.trim_end_matches('/'));
    url.push_str("/v1/events");
    Some((url, site, get_str(cfg, "token"), exp as u64))
}

/// Starts the pixel, or refreshes the consent token of a running one.
pub fn start(cfg: &JsValue) {
    let now = now();
    let Some((endpoint, site, consent, exp_s)) = config(cfg, now) else { return };
    let refreshed = STATE.with(|p| {
        p.consent = consent.clone();
        p.exp_s = exp_s;
        p.send.set_prefix(p.header());
    });
    if refreshed.is_some() {
        return;
    }
    let Some(mut p) = Pixel::new(endpoint, site, consent, exp_s, now) else { return };
    p.hooks = Hooks::install(&p.win);
    if let Err(p) = STATE.put(p) {
        p.teardown();
    }
}

/// Stops the pixel: listeners, timers, history hooks, queue, cookies and
/// stored session go. Works even if the state is unusable.
pub fn stop() {
    if let Some(p) = STATE.take() {
        p.teardown();
    }
    forget_visitor();
}

/// Deletes `ktra_vid`, `ktra_sid` and the stored session attributes.
fn forget_visitor() {
    let Some(win) = web_sys::window() else { return };
    let secure = win.location().protocol().map(|p| p == "https:").unwrap_or(false);
    if let Some(doc) = win.document() {
        let doc: HtmlDocument = doc.unchecked_into();
        let _ = doc.set_cookie(&cookie::set_str(VID, "", 0, secure));
        let _ = doc.set_cookie(&cookie::set_str(SID, "", 0, secure));
    }
    if let Ok(Some(s)) = win.local_storage() {
        let _ = s.remove_item(STORAGE_KEY);
    }
}

impl Pixel {
    fn new(endpoint: String, site: String, consent: String, exp_s: u64, now: f64) -> Option<Pixel> {
        let win = web_sys::window()?;
        let doc = win.document()?;
        let loc = win.location();
        let mut href = loc.href().ok()?;
        let landing = Attrs::from_query(query(&href));
        // The email click id has done its job once read: take it out of the
        // address bar (before the history hooks, so no second page view).
        if let Some(clean) = without_param(&href, EMAIL_CLICK_PARAM) {
            if let Ok(h) = win.history() {
                let state = h.state().unwrap_or(JsValue::NULL);
                if h.replace_state_with_url(&state, "", Some(&clean)).is_ok() {
                    href = clean;
                }
            }
        }
        let mut p = Pixel {
            crypto: win.crypto().ok(),
            storage: win.local_storage().ok().flatten(),
            secure: loc.protocol().map(|p| p == "https:").unwrap_or(false),
            win,
            page: Page {
                url: href,
                referrer: doc.referrer(),
                scroll: 0,
                videos: Vec::new(),
                engage: Engage::default(),
            },
            doc,
            site,
            consent,
            exp_s,
            vid: String::new(),
            sid: String::new(),
            attrs: Attrs::default(),
            cookies_ok: false,
            last_active: now,
            last_touch: now,
            send: Sender::new(endpoint),
            hooks: None,
        };
        let new_session = p.identify_visitor(&landing, now);
        p.send.set_prefix(p.header());
        if new_session && !landing.ec.is_empty() {
            let mut e = p.event(kind::EMAIL_CLICK, now);
            e.str("click_id", &landing.ec, crate::wire::MAX_ID_LEN);
            p.push(e, now);
        }
        p.page_view(now);
        if !p.doc.hidden() {
            p.page.engage.activity(now);
        }
        // Measured later, off the start path (reading layout may be slow).
        p.schedule_scroll(now + 300.0);
        Some(p)
    }

    /// Sets up `ktra_vid` and `ktra_sid` and the session's attributes.
    /// Returns whether a new session started.
    fn identify_visitor(&mut self, landing: &Attrs, now: f64) -> bool {
        let now_s = (now / 1000.0) as u64;
        let jar = self.cookies();
        let (vid, created) = match cookie::get(&jar, VID).and_then(|v| cookie::parse_vid(v, now_s)) {
            Some((id, created)) if cookie::vid_max_age(created, now_s, self.exp_s) > 0 => (String::from(id), created),
            _ => (self.uuid(), now_s),
        };
        self.set_cookie(VID, &cookie::vid_value(&vid, created), cookie::vid_max_age(created, now_s, self.exp_s));
        self.vid = vid;

        let live = cookie::get(&jar, SID).filter(|s| is_token_id(s)).map(String::from);
        let stored = live.as_deref().and_then(|sid| self.stored_attrs(sid));
        let new_session = match (&live, &stored) {
            (Some(_), Some(a)) => !session::continues(a, landing),
            (Some(_), None) => !(landing.no_campaign() && landing.ec.is_empty()),
            (None, _) => true,
        };
        if new_session {
            self.sid = self.uuid();
            self.attrs = landing.clone();
            self.save_session();
        } else {
            self.sid = live.unwrap_or_default();
            self.attrs = stored.unwrap_or_default();
        }
        self.set_cookie(SID, &self.sid.clone(), cookie::sid_max_age(now_s, self.exp_s));
        self.cookies_ok = cookie::get(&self.cookies(), SID) == Some(self.sid.as_str());
        new_session
    }

    /// Keeps the session alive on activity: refreshes the cookie at most
    /// once a minute, follows a session another tab started, and starts a
    /// new (direct) session after 30 minutes without activity.
    pub fn touch(&mut self, now: f64) {
        let idle = now - self.last_active;
        self.last_active = now;
        if idle < TOUCH_MS && now - self.last_touch < TOUCH_MS {
            return;
        }
        self.last_touch = now;
        let jar = self.cookies();
        let live = cookie::get(&jar, SID).filter(|s| is_token_id(s));
        let expired = idle >= (cookie::SESSION_S * 1000) as f64;
        match live {
            Some(s) if s == self.sid => {}
            Some(s) if self.cookies_ok => {
                // Another tab rolled the session: follow it.
                let s = String::from(s);
                let attrs = self.stored_attrs(&s).unwrap_or_default();
                self.switch_session(s, attrs);
            }
            _ if expired || (self.cookies_ok && live.is_none()) => {
                let sid = self.uuid();
                self.switch_session(sid, Attrs::default());
                self.save_session();
            }
            _ => {}
        }
        let now_s = (now / 1000.0) as u64;
        self.set_cookie(SID, &self.sid.clone(), cookie::sid_max_age(now_s, self.exp_s));
    }

    fn switch_session(&mut self, sid: String, attrs: Attrs) {
        // Queued events belong to the old session: seal them first.
        self.send.seal();
        self.sid = sid;
        self.attrs = attrs;
        self.send.set_prefix(self.header());
    }

    fn stored_attrs(&self, sid: &str) -> Option<Attrs> {
        let v = self.storage.as_ref()?.get_item(STORAGE_KEY).ok()??;
        session::decode(&v, sid)
    }

    fn save_session(&self) {
        if let Some(s) = &self.storage {
            let _ = s.set_item(STORAGE_KEY, &session::encode(&self.sid, &self.attrs));
        }
    }

    fn cookies(&self) -> String {
        self.doc.unchecked_ref::<HtmlDocument>().cookie().unwrap_or_default()
    }

    fn set_cookie(&self, name: &str, value: &str, max_age_s: u64) {
        let s = cookie::set_str(name, value, max_age_s, self.secure);
        let _ = self.doc.unchecked_ref::<HtmlDocument>().set_cookie(&s);
    }

    /// The batch prefix for the current visitor, session and consent.
    fn header(&self) -> String {
        let utm = self.attrs.utm_json();
        Header {
            site: &self.site,
            consent: &self.consent,
            vid: &self.vid,
            sid: &self.sid,
            utm: utm.as_deref(),
            ec: &self.attrs.ec,
        }
        .prefix()
    }

    /// A fresh UUID v4.
    pub fn uuid(&self) -> String {
        uuid_v4(random16(self.crypto.as_ref()))
    }

    /// A random number in 0..1.
    pub fn rand01(&self) -> f64 {
        f64::from(random16(self.crypto.as_ref())[0]) / 255.0
    }

    /// Starts an event about the current page.
    pub fn event(&self, kind: &str, now: f64) -> Obj {
        batch::event(kind, &self.uuid(), now as u64, &self.page.url, &self.page.referrer)
    }

    /// Queues an event (dropped once the consent has expired).
    pub fn push(&mut self, e: Obj, now: f64) {
        if now >= self.exp_s as f64 * 1000.0 {
            return;
        }
        self.touch(now);
        self.send.push(e.finish(), now, &self.win);
    }

    /// Reports a page view of the current page.
    pub fn page_view(&mut self, now: f64) {
        let mut e = self.event(kind::PAGE_VIEW, now);
        e.str("title", &self.doc.title(), MAX_TEXT_LEN);
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

    /// After `pushState`/`replaceState`/`popstate` settled: a page view if
    /// the URL names another page (engagement of the previous one first).
    pub fn navigated(&mut self, now: f64) {
        let href = self.win.location().href().unwrap_or_default();
        if href.is_empty() || page_key(&href) == page_key(&self.page.url) {
            return;
        }
        self.report_engagement(now);
        self.page.referrer = core::mem::replace(&mut self.page.url, href);
        self.page.scroll = 0;
        self.page.videos.clear();
        self.page_view(now);
        self.schedule_scroll(now + 500.0);
    }

    fn schedule_scroll(&mut self, at: f64) {
        self.send.schedule(super::send::Task::Scroll, at, &self.win);
    }

    /// Consent expiry, ms since epoch.
    pub fn exp_ms(&self) -> f64 {
        self.exp_s as f64 * 1000.0
    }

    /// Removes everything the pixel attached to the page.
    fn teardown(mut self) {
        if let Some(h) = self.hooks.take() {
            h.remove(&self.win);
        }
        self.send.cancel(&self.win);
    }
}
