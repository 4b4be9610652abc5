//! The running pixel: configuration, visitor and session, the current page
//! view, start and stop, and the dispatch of every call from the page.
//! Generic over [`Host`]: the page in the browser, a simulated one in tests.
use crate::batch::{self, Header};
use crate::cookie::{self, SID, VID};
use crate::engage::Engage;
use crate::event::PageEvent;
use crate::host::{Host, Task};
use crate::ids::is_token_id;
use crate::json::Obj;
use crate::send::Sender;
use crate::session::{self, Source};
use crate::url::{email_click_id, page_key, EMAIL_CLICK_PARAM};
use crate::wire::{kind, MAX_ID_LEN, MAX_TEXT_LEN};
use alloc::string::String;

/// How often (at most) the session cookie is re-written while active.
const TOUCH_MS: f64 = 60_000.0;
/// Delay between a history change and the page view, so that the new
/// page's title is set and redirects (push then replace) collapse.
const NAV_DELAY_MS: f64 = 100.0;
/// Scroll events are coalesced into one measurement per this interval.
pub const SCROLL_DELAY_MS: f64 = 250.0;

/// Most videos tracked on one page view.
pub const MAX_VIDEOS: usize = 50;

/// The current page view.
pub struct Page {
    /// Page URL.
    pub url: String,
    /// The page's referrer (the previous URL after an SPA navigation).
    pub referrer: String,
    /// Scroll depths reported (mask over `SCROLL_DEPTHS`).
    pub scroll: u8,
    /// Videos seen on this page view (a hash of their id; 0 for a free
    /// slot), with the milestones reported for each.
    pub videos: [(u32, u8); MAX_VIDEOS],
    /// Engaged time not yet reported.
    pub engage: Engage,
}

/// Everything the running pixel owns.
pub struct Pixel<H: Host> {
    pub(crate) h: H,
    site: String,
    consent: String,
    /// Consent expiry, Unix seconds.
    exp_s: u64,
    vid: String,
    /// When `vid` was created, Unix seconds.
    vid_created: u64,
    sid: String,
    source: Source,
    /// When this tab last wrote `ktra_sid`.
    last_touch: f64,
    /// `ktra_vid` disappeared (withdrawn in another tab): stop.
    gone: bool,
    /// Where the visit came from, until [`Pixel::init`] used it.
    landing: Option<Source>,
    pub(crate) page: Page,
    pub(crate) send: Sender,
    listening: bool,
    /// Inside [`Pixel::navigated`] (its own events must not re-check the URL).
    in_nav: bool,
}

/// Handles one call from the page at `now` (ms since the epoch).
#[inline(always)] // into `k_ev` with `PageEvent::decode`: 100 B less wasm than a call
pub fn on_event<H: Host + Clone>(state: &mut Option<Pixel<H>>, h: &H, event: PageEvent, now: f64) {
    if let PageEvent::Start { endpoint, site, token, exp_s } = event {
        start(state, h, endpoint, site, token, exp_s, now);
    } else if matches!(event, PageEvent::Stop) {
        stop(state, h);
    } else if let Some(p) = state {
        if !p.handle(event, now) {
            stop(state, h); // the consent expired
        }
    }
}

/// The events URL, site, token and expiry of a `start`; `None` when
/// unusable (no site or endpoint, or the consent already expired).
fn config(endpoint: &str, site: &str, token: &str, exp: f64, now: f64) -> Option<(String, String, String, u64)> {
    if endpoint.is_empty() || site.is_empty() || exp.is_nan() || exp * 1000.0 <= now {
        return None;
    }
    let trim = usize::from(endpoint.as_bytes().last() == Some(&b'/'));
    let mut url = String::from(endpoint.get(..endpoint.len() - trim).unwrap_or(endpoint));
    url.push_str("/v1/events");
    Some((url, String::from(site), String::from(token), exp as u64))
}

/// Starts the pixel, or refreshes the consent of a running one.
///
/// Only cheap work happens in this call (reading the configuration and the
/// landing URL). The rest (listeners, cookies, the stored session, the
/// first events) follows in a timer task right after: the first touch of
/// `document.cookie` and `localStorage` takes a few milliseconds that the
/// loader's call should not block. Any call arriving before that task runs
/// it first.
fn start<H: Host + Clone>(
    state: &mut Option<Pixel<H>>,
    h: &H,
    endpoint: &str,
    site: &str,
    token: &str,
    exp: f64,
    now: f64,
) {
    let Some((endpoint, site, consent, exp_s)) = config(endpoint, site, token, exp, now) else { return };
    if let Some(p) = state {
        // A renewed consent: new token and expiry for what is sent from
        // now on, and the visitor cookie's life bound to the new expiry.
        p.consent = consent;
        p.exp_s = exp_s;
        p.send.set_prefix(p.header());
        p.set_vid_cookie(now);
        return;
    }
    h.set_endpoint(&endpoint);
    let p = Pixel::new(h.clone(), site, consent, exp_s, now);
    p.h.set_timer(Task::Init, 0.0);
    *state = Some(p);
}

/// Detaches the pixel from the page (listeners, timers, history proxies) and
/// drops its state, leaving cookies and storage: what leaving the page does.
pub fn detach<H: Host>(state: &mut Option<Pixel<H>>) {
    if let Some(p) = state.take() {
        if p.listening {
            p.h.listen(false);
        }
        p.h.clear_timers();
    }
}

/// Stops the pixel: listeners, timers, history proxies, queue, cookies and
/// the stored session go. The cookies go even when it was not running.
fn stop<H: Host>(state: &mut Option<Pixel<H>>, h: &H) {
    detach(state);
    h.set_cookie(&cookie::pair(VID, ""), 0);
    h.set_cookie(&cookie::pair(SID, ""), 0);
    h.unstore();
}

impl<H: Host> Pixel<H> {
    fn new(h: H, site: String, consent: String, exp_s: u64, now: f64) -> Pixel<H> {
        let landing = Source { utm: h.campaign(), ec: email_click_id(h.param(EMAIL_CLICK_PARAM)) };
        let mut p = Pixel {
            send: Sender::new(),
            page: Page {
                url: h.href(),
                referrer: h.referrer(),
                scroll: 0,
                videos: [(0, 0); MAX_VIDEOS],
                engage: Engage::default(),
            },
            site,
            consent,
            exp_s,
            vid: String::new(),
            vid_created: 0,
            sid: String::new(),
            source: Source::default(),
            last_touch: now,
            gone: false,
            landing: Some(landing),
            listening: false,
            in_nav: false,
            h,
        };
        if !p.hidden() {
            p.page.engage.activity(now);
        }
        p
    }

    /// Handles a call of a running pixel; `false` when the pixel must stop:
    /// the consent has expired, or `ktra_vid` is gone (see [`Pixel::touch`]).
    #[inline(always)] // into `on_event`, see there
    fn handle(&mut self, event: PageEvent, now: f64) -> bool {
        if now >= self.exp_ms() {
            return false;
        }
        // The start's deferred work comes first, whoever calls.
        self.init(now);
        match event {
            PageEvent::Track { name, props } => self.custom(name, props, now),
            PageEvent::Purchase(order) => self.purchase(order, now),
            PageEvent::Identify { email, lead_id } => self.identify(email, lead_id, now),
            PageEvent::Timer(task) => self.tick(task, now),
            PageEvent::Response { request, status, retry_after } => {
                self.send.response(&self.h, request, status, retry_after, now);
            }
            PageEvent::Navigated => self.h.set_timer(Task::Nav, NAV_DELAY_MS),
            PageEvent::Scroll => {
                self.active(now);
                self.h.set_timer(Task::Scroll, SCROLL_DELAY_MS);
            }
            PageEvent::Visibility { leaving } if leaving || self.hidden() => self.on_hide(now),
            PageEvent::Click { link, button, aux } => self.on_click(link, button, aux, now),
            PageEvent::Submit(form) => self.on_submit(form, now),
            PageEvent::Video { what, id, time, duration } => self.on_video(what, id, time, duration, now),
            // Input, or the page shown again (start and stop never get here).
            _ => self.active(now),
        }
        !self.gone
    }

    /// A task's timer fired (the start's deferred work already ran in
    /// `handle`).
    pub(crate) fn tick(&mut self, task: Task, now: f64) {
        match task {
            Task::Nav => self.navigated(now),
            Task::Scroll => self.measure_scroll(now),
            Task::Flush => self.send.seal(),
            Task::Retry => self.send.retry_due(),
            Task::Init => {}
        }
        self.send.pump(&self.h, now);
    }

    /// The start's deferred work: visitor and session, the email click and
    /// the page view. Runs once, from the timer or before the first call.
    fn init(&mut self, now: f64) {
        let Some(landing) = self.landing.take() else { return };
        // The email click id has done its job once read: take it out of the
        // address bar (before the history proxies: no second page view).
        self.h.strip_param(EMAIL_CLICK_PARAM);
        // The page as it is now: an app's router may have changed the URL
        // since `start` (one page view, with the document's referrer).
        self.page.url = self.h.href();
        self.h.listen(true);
        self.listening = true;
        if self.identify_visitor(&landing, now) && !landing.ec.is_empty() {
            let mut e = self.event(kind::EMAIL_CLICK, now);
            e.str("click_id", &landing.ec, MAX_ID_LEN);
            self.push(e, now);
        }
        self.page_view(now);
        // Measured later still: reading layout may take a while.
        self.h.set_timer(Task::Scroll, 300.0);
    }

    /// Sets up `ktra_vid`, `ktra_sid` and the session's source. Returns
    /// whether a new session started.
    fn identify_visitor(&mut self, landing: &Source, now: f64) -> bool {
        let now_s = (now / 1000.0) as u64;
        let vid_cookie = self.h.cookie(VID).unwrap_or_default();
        let (vid, created) = match cookie::parse_vid(&vid_cookie, now_s) {
            Some((id, created)) if cookie::vid_max_age(created, now_s, self.exp_s) > 0 => (String::from(id), created),
            _ => (self.uuid(), now_s),
        };
        self.vid = vid;
        self.vid_created = created;
        self.set_vid_cookie(now);
        let live = self.h.cookie(SID).filter(|s| is_token_id(s));
        match live.map(|sid| {
            let stored = self.stored_source(&sid);
            (sid, stored)
        }) {
            Some((sid, stored)) if session::continues(&stored, landing) => {
                self.switch_session(sid, stored);
                self.refresh_sid(now);
                false
            }
            _ => {
                self.new_session(landing.clone(), now);
                true
            }
        }
    }

    /// Keeps the session alive on activity. The `ktra_sid` cookie is the
    /// session across tabs: it lives 30 minutes from the last refresh by
    /// any tab. At most once a minute this tab reads it again: a live one
    /// is followed (another tab may have started a new session) and
    /// refreshed; none left means 30 minutes without activity in any tab,
    /// so a new (direct) session starts. A missing `ktra_vid` means the
    /// visitor withdrew consent in another tab (or cleared cookies): the
    /// pixel stops rather than set it again.
    pub(crate) fn touch(&mut self, now: f64) {
        if now - self.last_touch < TOUCH_MS {
            return;
        }
        if self.h.cookie(VID).is_none() {
            self.gone = true;
            return;
        }
        match self.h.cookie(SID).filter(|s| is_token_id(s)) {
            Some(s) if s == self.sid => self.refresh_sid(now),
            Some(s) => {
                let source = self.stored_source(&s);
                self.switch_session(s, source);
                self.refresh_sid(now);
            }
            None => self.new_session(Source::default(), now),
        }
    }

    fn new_session(&mut self, source: Source, now: f64) {
        let sid = self.uuid();
        self.switch_session(sid, source);
        self.h.store(&session::encode(&self.sid, &self.source));
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
        session::decode(&self.h.stored(), sid).unwrap_or_default()
    }

    fn set_cookie(&self, name: &str, value: &str, max_age_s: u64) {
        self.h.set_cookie(&cookie::pair(name, value), max_age_s);
    }

    /// Whether the page is hidden (background tab, minimized).
    pub(crate) fn hidden(&self) -> bool {
        self.h.hidden()
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

    /// A fresh UUID v4.
    pub(crate) fn uuid(&self) -> String {
        self.h.uuid()
    }

    /// Starts an event about the current page. An SPA navigation whose
    /// settle delay has not passed yet is taken first, so that an event right
    /// after `pushState` (an autoplaying video, a click) belongs to the new page.
    pub(crate) fn event(&mut self, kind: &str, now: f64) -> Obj {
        if !self.in_nav {
            self.navigated(now);
        }
        let id = self.uuid();
        batch::event(kind, &id, now as u64, &self.page.url, &self.page.referrer)
    }

    /// Queues an event.
    pub(crate) fn push(&mut self, e: Obj, now: f64) {
        self.touch(now);
        self.send.push(&self.h, e.finish(), now);
    }

    /// Reports a page view of the current page.
    fn page_view(&mut self, now: f64) {
        let mut e = self.event(kind::PAGE_VIEW, now);
        e.str("title", &self.h.title(), MAX_TEXT_LEN);
        self.push(e, now);
    }

    /// Reports engaged time of the current page since the last report, in
    /// the page view's session: not activity, so it neither extends the
    /// session nor, after 30 idle minutes, starts one.
    pub(crate) fn report_engagement(&mut self, now: f64) {
        let ms = self.page.engage.take(now);
        if ms > 0 {
            let mut e = self.event(kind::ENGAGEMENT, now);
            e.int("engaged_ms", ms);
            self.send.push(&self.h, e.finish(), now);
        }
    }

    /// After `pushState`/`replaceState`/`popstate` settled: a page view if
    /// the URL names another page (engagement of the previous one first).
    fn navigated(&mut self, now: f64) {
        let href = self.h.href();
        if href.is_empty() || page_key(&href) == page_key(&self.page.url) {
            return;
        }
        self.in_nav = true;
        self.report_engagement(now);
        self.page.referrer = core::mem::replace(&mut self.page.url, href);
        self.page.scroll = 0;
        self.page.videos = [(0, 0); MAX_VIDEOS];
        self.page_view(now);
        self.in_nav = false;
        self.h.set_timer(Task::Scroll, 500.0);
    }

    /// Consent expiry, ms since epoch.
    fn exp_ms(&self) -> f64 {
        self.exp_s as f64 * 1000.0
    }
}
