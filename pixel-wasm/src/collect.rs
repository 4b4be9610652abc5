//! Turning page events and API calls into ktra events.
use crate::event::{Form, Order, Prop, Props, VideoEvent};
use crate::host::Host;
use crate::json::{cut, quote, Obj};
use crate::marks::{newly_reached, play_pct};
use crate::pixel::Pixel;
use crate::wire::*;
use alloc::string::String;

/// The event of each video milestone bit (see `on_media`).
const VIDEO_KINDS: [&str; 5] =
    [kind::VIDEO_START, kind::VIDEO_PROGRESS, kind::VIDEO_PROGRESS, kind::VIDEO_PROGRESS, kind::VIDEO_COMPLETE];

/// 32-bit FNV-1a of `s`, never 0 (0 marks a free video slot).
fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h | 1
}

impl<H: Host> Pixel<H> {
    /// User input (or the page shown again) on a visible page.
    pub(crate) fn active(&mut self, now: f64) {
        if !self.hidden() {
            self.page.engage.activity(now);
            self.touch(now);
        }
    }

    /// The page was hidden or is being left: report engagement and send
    /// everything by beacon.
    pub(crate) fn on_hide(&mut self, now: f64) {
        self.page.engage.pause(now);
        self.report_engagement(now);
        self.send.beacon(&self.h);
    }

    pub(crate) fn measure_scroll(&mut self, now: f64) {
        let pct = self.h.scrolled() as u32; // a failure (-1) is 0
        let new = newly_reached(&SCROLL_DEPTHS, self.page.scroll, pct);
        self.page.scroll |= new;
        for (i, d) in SCROLL_DEPTHS.iter().enumerate() {
            if new & (1 << i) != 0 {
                let mut e = self.event(kind::SCROLL, now);
                e.int("depth", u64::from(*d));
                self.push(e, now);
            }
        }
    }

    /// A click (`aux` for `auxclick`) with `button`; outbound when the host
    /// found a link that leaves the site.
    pub(crate) fn on_click(&mut self, link: Option<&str>, button: f64, aux: bool, now: f64) {
        self.active(now);
        // Only the middle button opens a link by auxclick.
        if let (Some(href), true) = (link, !aux || button == 1.0) {
            let mut e = self.event(kind::OUTBOUND_CLICK, now);
            e.str("target", href, MAX_URL_LEN);
            self.push(e, now);
        }
    }

    /// A form submission: its field names (never values; the host sends
    /// the email value of `data-ktra-identify` forms only), and for such a
    /// form an `identify`.
    pub(crate) fn on_submit(&mut self, form: Form, now: f64) {
        let form_id = if form.id().is_empty() { form.name() } else { form.id() };
        let mut fields = String::from("[");
        for name in form.fields().iter().take(MAX_FORM_FIELDS).flatten() {
            if !name.is_empty() {
                if fields.len() > 1 {
                    fields.push_str(",");
                }
                quote(&mut fields, cut(name, MAX_PROP_KEY_LEN));
            }
        }
        fields.push_str("]");
        let mut e = self.event(kind::FORM_SUBMIT, now);
        e.opt("form_id", form_id, MAX_ID_LEN);
        e.opt("form_action", form.action(), MAX_URL_LEN);
        e.raw("fields", &fields);
        self.push(e, now);
        if let Some(email) = form.email() {
            self.identify(email, "", now);
        }
    }

    /// `play`, `timeupdate` or `ended` of the `<video>` `id` at `time` of
    /// `duration` seconds: its milestones, once each per page view.
    pub(crate) fn on_video(&mut self, what: VideoEvent, id: &str, time: f64, duration: f64, now: f64) {
        // Milestones as bits: 0 start, 1..=3 the `VIDEO_MARKS`, 4 complete.
        let reached = match what {
            VideoEvent::Play => 1,
            VideoEvent::Ended => 1 << 4,
            VideoEvent::Progress => play_pct(time, duration).map_or(0, |pct| newly_reached(&VIDEO_MARKS, 0, pct) << 1),
        };
        // Videos are told apart by a hash of their id: no copy of the id
        // kept, and a collision (1 in 4 billion) only merges two videos' marks.
        let key = fnv1a(id);
        let videos = &mut self.page.videos;
        let slot = match videos.iter().position(|v| v.0 == key) {
            Some(i) => i,
            None => match videos.iter().position(|v| v.0 == 0) {
                Some(i) if !id.is_empty() => i,
                _ => return, // no id, or `MAX_VIDEOS` videos already
            },
        };
        let Some(video) = videos.get_mut(slot) else { return };
        video.0 = key;
        let marks = &mut video.1;
        let new = reached & !*marks;
        *marks |= new;
        for (i, k) in VIDEO_KINDS.iter().enumerate() {
            if new & (1 << i) != 0 {
                let mut e = self.event(k, now);
                e.str("video_id", id, MAX_URL_LEN);
                if let Some(pct) = VIDEO_MARKS.get(i.wrapping_sub(1)) {
                    e.int("percent", u64::from(*pct));
                }
                self.push(e, now);
            }
        }
    }

    /// `track(name, props)`.
    pub(crate) fn custom(&mut self, name: &str, props: Props, now: f64) {
        if name.is_empty() {
            return;
        }
        let mut e = self.event(kind::CUSTOM, now);
        e.str("name", name, MAX_ID_LEN);
        add_props(&mut e, props);
        self.push(e, now);
    }

    /// `purchase({order_id, value, currency, product_id, product_name, ...})`;
    /// other keys become props. Ignored without an order id.
    pub(crate) fn purchase(&mut self, order: Order, now: f64) {
        let order_id = order.order_id();
        if order_id.is_empty() {
            return;
        }
        let mut e = self.event(kind::PURCHASE, now);
        e.str("order_id", order_id, MAX_ID_LEN);
        if let Some(value) = order.value() {
            e.raw("value", value); // a finite number as JS prints it: JSON
        }
        e.opt("currency", order.currency(), MAX_ID_LEN);
        e.opt("product_id", order.product_id(), MAX_ID_LEN);
        e.opt("product_name", order.product_name(), MAX_TEXT_LEN);
        add_props(&mut e, order.props());
        self.push(e, now);
    }

    /// `identify({email} | {lead_id})`, or a `data-ktra-identify` form's email.
    pub(crate) fn identify(&mut self, email: &str, lead: &str, now: f64) {
        // The host sends emails trimmed and lower case; one without an @ is
        // no email.
        let email = if email.bytes().any(|b| b == b'@') { email } else { "" };
        if email.is_empty() && lead.is_empty() {
            return;
        }
        let mut e = self.event(kind::IDENTIFY, now);
        e.opt("email", email, MAX_TEXT_LEN);
        e.opt("lead_id", lead, MAX_ID_LEN);
        self.push(e, now);
    }
}

/// Adds `props` (at most `MAX_PROPS`, keys of at most `MAX_PROP_KEY_LEN`
/// bytes, string values cut) to an event.
fn add_props(e: &mut Obj, props: Props) {
    let mut o = Obj::new();
    let mut n = 0;
    for (key, value) in props.iter() {
        if n == MAX_PROPS || key.is_empty() || key.len() > MAX_PROP_KEY_LEN {
            continue;
        }
        match value {
            Prop::Str(s) => o.str(key, s, MAX_PROP_VALUE_LEN),
            Prop::Json(json) => o.raw(key, json), // `true`/`false`, or a number as JS prints it
        }
        n += 1;
    }
    if n > 0 {
        e.raw("props", &o.finish());
    }
}
