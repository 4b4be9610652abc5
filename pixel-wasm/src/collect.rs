//! Turning page events and API calls into ktra events.
use crate::host::{arg, Args, Host, Op};
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
        let pct = self.h.get(Op::Scrolled) as u32; // a failure (-1) is 0
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
    pub(crate) fn on_click(&mut self, args: &Args, now: f64, button: f64, aux: f64) {
        self.active(now);
        // Only the middle button opens a link by auxclick.
        if let (Some(Some(href)), true) = (args.first(), aux == 0.0 || button == 1.0) {
            let mut e = self.event(kind::OUTBOUND_CLICK, now);
            e.str("target", href, MAX_URL_LEN);
            self.push(e, now);
        }
    }

    /// A form submission: its field names (never values; the host sends
    /// the email value of `data-ktra-identify` forms only), and for such a
    /// form an `identify`.
    pub(crate) fn on_submit(&mut self, args: &Args, now: f64) {
        let mut form_id = arg(args, 0);
        if form_id.is_empty() {
            form_id = arg(args, 1);
        }
        let mut fields = String::from("[");
        for name in args.iter().skip(4).take(MAX_FORM_FIELDS).flatten() {
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
        e.opt("form_action", arg(args, 2), MAX_URL_LEN);
        e.raw("fields", &fields);
        self.push(e, now);
        if let Some(Some(email)) = args.get(3) {
            self.identify_with(email, "", now);
        }
    }

    /// `play`, `timeupdate` or `ended` of a `<video>` at `time` of
    /// `duration` seconds: its milestones, once each per page view.
    pub(crate) fn on_media(&mut self, args: &Args, now: f64, time: f64, duration: f64) {
        let id = arg(args, 1);
        // Milestones as bits: 0 start, 1..=3 the `VIDEO_MARKS`, 4 complete.
        let reached = match arg(args, 0) {
            "play" => 1,
            "ended" => 1 << 4,
            _ => play_pct(time, duration).map_or(0, |pct| newly_reached(&VIDEO_MARKS, 0, pct) << 1),
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
    pub(crate) fn custom(&mut self, args: &Args, now: f64) {
        let name = arg(args, 0);
        if name.is_empty() {
            return;
        }
        let mut e = self.event(kind::CUSTOM, now);
        e.str("name", name, MAX_ID_LEN);
        add_props(&mut e, args, 1);
        self.push(e, now);
    }

    /// `purchase({order_id, value, currency, product_id, product_name, ...})`;
    /// other keys become props. Ignored without an order id.
    pub(crate) fn purchase(&mut self, args: &Args, now: f64) {
        let order_id = arg(args, 0);
        if order_id.is_empty() {
            return;
        }
        let mut e = self.event(kind::PURCHASE, now);
        e.str("order_id", order_id, MAX_ID_LEN);
        if let Some(Some(value)) = args.get(1) {
            e.raw("value", value); // a finite number as JS prints it: JSON
        }
        e.opt("currency", arg(args, 2), MAX_ID_LEN);
        e.opt("product_id", arg(args, 3), MAX_ID_LEN);
        e.opt("product_name", arg(args, 4), MAX_TEXT_LEN);
        add_props(&mut e, args, 5);
        self.push(e, now);
    }

    /// `identify({email} | {lead_id})`.
    pub(crate) fn identify(&mut self, args: &Args, now: f64) {
        self.identify_with(arg(args, 0), arg(args, 1), now);
    }

    fn identify_with(&mut self, email: &str, lead: &str, now: f64) {
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

/// Adds the props in `args` from `from` on (key, typed value pairs: see
/// `host::ev::TRACK`; at most `MAX_PROPS`, keys of at most
/// `MAX_PROP_KEY_LEN` bytes, string values cut) to an event.
fn add_props(e: &mut Obj, args: &Args, from: usize) {
    let mut o = Obj::new();
    let mut n = 0;
    let mut i = from;
    while let (Some(Some(key)), Some(Some(v))) = (args.get(i), args.get(i + 1)) {
        i += 2;
        if n == MAX_PROPS || key.is_empty() || key.len() > MAX_PROP_KEY_LEN {
            continue;
        }
        let value = v.get(1..).unwrap_or("");
        match v.as_bytes().first() {
            Some(b's') => o.str(key, value, MAX_PROP_VALUE_LEN),
            Some(b'b' | b'n') => o.raw(key, value), // `true`/`false`, or a number as JS prints it
            _ => continue,
        }
        n += 1;
    }
    if n > 0 {
        e.raw("props", &o.finish());
    }
}
