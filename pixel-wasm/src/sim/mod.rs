//! The whole pixel on a simulated page: native, deterministic scenario tests
//! of [`crate::pixel::on_event`] with a fake clock.
//!
//! [`page::Sim`] is a page implementing [`crate::host::Host`] the way
//! `src/web/host.js` does, and [`Browser`] drives it: page events as
//! host.js reports them, the API calls converted like host.js's exports
//! ([`js`]), time advanced timer by timer. Every request body is decoded
//! with `ktra_schema`'s serde types and every event checked with the
//! collector's `validate_event`. The scenarios are in [`scenarios`], one
//! file per subject.
//!
//! `src/web/tests/` runs the same kind of scenarios in Chromium through
//! the real DOM; these go further where time matters (backoff, sessions,
//! expiry) without sleeping.
#![allow(clippy::unwrap_used)]

mod js;
mod page;
mod scenarios;

// What the scenarios use (`use crate::sim::*`).
pub(crate) use crate::abi::Op;
pub(crate) use crate::event::{Form, Order, PageEvent, Props, VideoEvent};
pub(crate) use crate::host::Task;
pub(crate) use js::*;
pub(crate) use ktra_schema::wire::{Batch, PropValue, RawEvent};
pub(crate) use page::{Page, Sent};

use crate::pixel::{detach, on_event, Pixel};
use ktra_schema::validate::parse_uuid;
use page::{hostname, protocol, Sim, Via};
use std::cell::{RefCell, RefMut};
use std::rc::Rc;

/// The simulated clock's start: 2025-11-22, in ms.
pub(crate) const T0: f64 = 1_763_800_000_000.0;
pub(crate) const DAY_S: f64 = 86_400.0;
pub(crate) const MIN: f64 = 60_000.0;
pub(crate) const ENDPOINT: &str = "https://collect.example/";
pub(crate) const EVENTS_URL: &str = "https://collect.example/v1/events";
pub(crate) const SITE: &str = "demo";
pub(crate) const TOKEN: &str = "v1.token-1";
pub(crate) const LANDING: &str = "https://shop.example/landing?q=1";
pub(crate) const REFERRER: &str = "https://search.example/?q=shoes";
pub(crate) const VID: &str = "ktra_vid";
pub(crate) const SID: &str = "ktra_sid";
pub(crate) const VID_LIFE_S: u64 = 390 * 86_400;

/// A browser tab with the pixel: the page, and the pixel's state as
/// `src/web` keeps it.
pub(crate) struct Browser {
    pub(crate) sim: Sim,
    pub(crate) state: Option<Pixel<Sim>>,
    /// The consent expiry the loader passes (Unix s): fixed at consent time.
    pub(crate) exp_s: f64,
}

impl Browser {
    /// A tab showing `url`, reached from a search engine.
    pub(crate) fn at(url: &str) -> Browser {
        Browser {
            sim: Sim(Rc::new(RefCell::new(Page::new(url)))),
            state: None,
            exp_s: (T0 / 1000.0).floor() + 180.0 * DAY_S,
        }
    }

    /// A tab with the pixel started on `url` and its start task run.
    pub(crate) fn booted(url: &str) -> Browser {
        let mut b = Browser::at(url);
        b.boot();
        b
    }

    pub(crate) fn page(&self) -> RefMut<'_, Page> {
        self.sim.0.borrow_mut()
    }

    pub(crate) fn now(&self) -> f64 {
        self.page().now
    }

    pub(crate) fn now_s(&self) -> f64 {
        (self.now() / 1000.0).floor()
    }

    pub(crate) fn running(&self) -> bool {
        self.state.is_some()
    }

    /// One call from the page, now.
    pub(crate) fn send(&mut self, event: PageEvent) {
        let now = self.now();
        on_event(&mut self.state, &self.sim, event, now);
    }

    /// A page event: reaches the pixel only while its listeners are attached.
    pub(crate) fn page_event(&mut self, event: PageEvent) {
        if self.page().listening {
            self.send(event);
        }
    }

    pub(crate) fn start(&mut self, endpoint: &str, site: &str, token: &str, exp_s: f64) {
        self.send(PageEvent::Start { endpoint, site, token, exp_s });
    }

    /// The loader's `start` with this tab's consent.
    pub(crate) fn start_default(&mut self) {
        let exp = self.exp_s;
        self.start(ENDPOINT, SITE, TOKEN, exp);
    }

    /// `start`, then its task (a timer of delay 0).
    pub(crate) fn boot(&mut self) {
        self.start_default();
        self.advance(0.0);
    }

    pub(crate) fn stop(&mut self) {
        self.send(PageEvent::Stop);
    }

    /// The page is left: the pixel detaches; cookies and storage stay,
    /// fetches under way settle unheard.
    pub(crate) fn leave(&mut self) {
        detach(&mut self.state);
        let mut p = self.page();
        p.inflight.clear();
        p.listening = false;
        p.hidden = false;
        p.scroll_y = 0.0;
    }

    /// A new page load of `url` (a link from the current page) with the pixel.
    pub(crate) fn open(&mut self, url: &str) {
        self.leave();
        {
            let mut guard = self.page();
            let p = &mut *guard;
            p.referrer = std::mem::replace(&mut p.href, url.to_string());
        }
        self.boot();
    }

    /// Lets `ms` pass, firing every due timer at its time, in order.
    pub(crate) fn advance(&mut self, ms: f64) {
        let end = self.now() + ms;
        for _ in 0..100_000 {
            let next = self
                .page()
                .timers
                .iter()
                .filter(|t| t.due <= end)
                .min_by(|x, y| x.due.total_cmp(&y.due).then(x.id.cmp(&y.id)))
                .map(|t| (t.id, t.task, t.due));
            let Some((id, task, due)) = next else {
                self.page().now = end;
                return;
            };
            {
                let mut p = self.page();
                p.timers.retain(|t| t.id != id);
                p.now = p.now.max(due);
            }
            self.send(PageEvent::Timer(task));
        }
        panic!("the timer keeps firing");
    }

    /// Settles the oldest fetch under way: `status` 0 is a network error.
    pub(crate) fn respond(&mut self, status: u16, retry_after: Option<&str>) {
        let (_, request) = self.page().inflight.pop_front().expect("no fetch under way");
        let header = retry_after.filter(|_| status != 0).map(str::trim); // host.js `text(...)`
        let retry_after = header.and_then(crate::cookie::parse_u64);
        self.send(PageEvent::Response { request, status: f64::from(status), retry_after });
    }

    /// Answers 202 to every fetch, including those the answers start.
    pub(crate) fn deliver_all(&mut self) {
        while !self.page().inflight.is_empty() {
            self.respond(202, None);
        }
    }

    /// Lets pending work and flushes run (a few seconds) and the collector
    /// answer 202 to everything.
    pub(crate) fn settle(&mut self) {
        for _ in 0..3 {
            self.advance(1_000.0);
            self.deliver_all();
        }
    }

    /// `pushState(url)` (or `replaceState`, or a `popstate` to it).
    pub(crate) fn navigate(&mut self, url: &str) {
        self.page().href = url.to_string();
        self.page_event(PageEvent::Navigated);
    }

    /// A pointer or key input.
    pub(crate) fn input(&mut self) {
        self.page_event(PageEvent::Input);
    }

    pub(crate) fn scroll_to(&mut self, y: f64) {
        self.page().scroll_y = y;
        self.page_event(PageEvent::Scroll);
    }

    /// `pagehide`.
    pub(crate) fn pagehide(&mut self) {
        self.page_event(PageEvent::Visibility { leaving: true });
    }

    /// `visibilitychange` to hidden or visible.
    pub(crate) fn set_hidden(&mut self, hidden: bool) {
        self.page().hidden = hidden;
        self.page_event(PageEvent::Visibility { leaving: false });
    }

    /// A `click` (button 0) on a link to `href`, or `auxclick` with `button`.
    pub(crate) fn click_link(&mut self, href: &str, button: f64, aux: bool) {
        // host.js: a link that leaves the site, "www." aside, goes as its href.
        let site = |h: &str| h.strip_prefix("www.").unwrap_or(h).to_ascii_lowercase();
        let page_host = hostname(&self.page().href).to_string();
        let out = matches!(protocol(href), "http:" | "https:")
            && !hostname(href).is_empty()
            && site(hostname(href)) != site(&page_host);
        self.page_event(PageEvent::Click { link: Some(href).filter(|_| out), button, aux });
    }

    pub(crate) fn click(&mut self, href: &str) {
        self.click_link(href, 0.0, false);
    }

    /// A form `submit`: id and name attributes, action, the email field's
    /// value of a `data-ktra-identify` form, the names of its controls.
    pub(crate) fn submit(
        &mut self,
        id: Option<&str>,
        name: Option<&str>,
        action: &str,
        email: Option<&str>,
        controls: &[&str],
    ) {
        let email = email.map(|e| e.trim().to_lowercase()); // host.js `text(...)?.toLowerCase()`
        let mut args = vec![id, name, Some(action), email.as_deref()];
        for c in controls {
            if !args[4..].contains(&Some(*c)) {
                args.push(Some(*c)); // host.js: `new Set(names)`
            }
        }
        self.page_event(PageEvent::Submit(Form(&args)));
    }

    /// A media event (`play`, `timeupdate`, `ended`) of a `tag` element
    /// with id attribute `id` playing `src`.
    pub(crate) fn media(&mut self, ty: &str, tag: &str, id: &str, src: &str, time: f64, duration: f64) {
        // host.js: `<video>` only, known by its id, else its source.
        if tag == "VIDEO" {
            let id = if id.is_empty() { src } else { id };
            let what = match ty {
                "play" => VideoEvent::Play,
                "ended" => VideoEvent::Ended,
                _ => VideoEvent::Progress,
            };
            self.page_event(PageEvent::Video { what, id, time, duration });
        }
    }

    /// `track(name, props)`.
    pub(crate) fn track(&mut self, name: Js, props: &[(&str, Js)]) {
        let name = js_text(Some(&name));
        let props = js_flat(props, &[]);
        let props: Vec<Option<&str>> = props.iter().map(Option::as_deref).collect();
        self.send(PageEvent::Track { name: name.as_deref().unwrap_or(""), props: Props(&props) });
    }

    /// `track(name)` without props.
    pub(crate) fn track_named(&mut self, name: &'static str) {
        self.track(S(name), &[]);
    }

    /// `purchase(order)`.
    pub(crate) fn purchase(&mut self, o: &[(&str, Js)]) {
        let mut args = vec![
            js_id(field(o, "order_id")),
            js_num(field(o, "value")),
            js_text(field(o, "currency")).map(|c| c.to_uppercase()),
            js_id(field(o, "product_id")),
            js_str(field(o, "product_name")),
        ];
        args.extend(js_flat(o, &["order_id", "value", "currency", "product_id", "product_name"]));
        let args: Vec<Option<&str>> = args.iter().map(Option::as_deref).collect();
        self.send(PageEvent::Purchase(Order(&args)));
    }

    /// `identify(who)`.
    pub(crate) fn identify(&mut self, o: &[(&str, Js)]) {
        let email = js_text(field(o, "email")).map(|e| e.to_lowercase());
        let lead_id = js_id(field(o, "lead_id"));
        self.send(PageEvent::Identify {
            email: email.as_deref().unwrap_or(""),
            lead_id: lead_id.as_deref().unwrap_or(""),
        });
    }

    // -- what the page saw -------------------------------------------------

    pub(crate) fn sent(&self) -> Vec<Sent> {
        self.page().sent.clone()
    }

    pub(crate) fn fetches(&self) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.via == Via::Fetch).collect()
    }

    pub(crate) fn beacons(&self) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.via == Via::Beacon).collect()
    }

    /// Every body sent, decoded; each event must pass the collector's checks.
    pub(crate) fn batches(&self) -> Vec<Batch> {
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
    pub(crate) fn events(&self) -> Vec<RawEvent> {
        self.batches().into_iter().flat_map(|b| b.events).collect()
    }

    /// Like [`Browser::events`], without the collector's checks.
    pub(crate) fn unchecked_events(&self) -> Vec<RawEvent> {
        let bodies = self.sent();
        bodies.iter().flat_map(|s| serde_json::from_str::<Batch>(&s.body).unwrap().events).collect()
    }

    pub(crate) fn of_kind(&self, kind: &str) -> Vec<RawEvent> {
        self.events().into_iter().filter(|e| e.kind == kind).collect()
    }

    pub(crate) fn kinds(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.kind).collect()
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.page().cookie(name)
    }

    /// The visitor id: the `ktra_vid` cookie before the dot.
    pub(crate) fn vid(&self) -> String {
        let v = self.cookie(VID).expect("no ktra_vid");
        v.split('.').next().unwrap().to_string()
    }

    /// The last `document.cookie` assignment for `name`.
    pub(crate) fn last_write(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.page().cookie_writes.iter().rev().find(|w| w.starts_with(&prefix)).cloned().expect("never written")
    }

    /// `Max-Age` of the last assignment for `name`.
    pub(crate) fn max_age(&self, name: &str) -> u64 {
        let w = self.last_write(name);
        w.split("; ").find_map(|a| a.strip_prefix("Max-Age=")).unwrap().parse().unwrap()
    }

    /// A position in the op log.
    pub(crate) fn mark(&self) -> usize {
        self.page().log.len()
    }

    /// The ops run since `mark`.
    pub(crate) fn ops_since(&self, mark: usize) -> Vec<Op> {
        self.page().log[mark..].iter().map(|(op, _, _)| *op).collect()
    }

    /// Due times of the pending timers.
    pub(crate) fn timers(&self) -> Vec<f64> {
        self.page().timers.iter().map(|t| t.due).collect()
    }
}

/// The events of one decoded batch, by kind.
pub(crate) fn kinds_of(b: &Batch) -> Vec<&str> {
    b.events.iter().map(|e| e.kind.as_str()).collect()
}

pub(crate) fn is_v4_uuid(s: &str) -> bool {
    parse_uuid(s).is_some_and(|b| b[6] >> 4 == 4 && b[8] >> 6 == 0b10) && s.len() == 36
}

pub(crate) fn prop(e: &RawEvent, key: &str) -> Option<PropValue> {
    e.props.as_ref().and_then(|p| p.get(key).cloned())
}
