//! Turning page events and API calls into ktra events.
use crate::host::{arg, Args, Host, Op};
use crate::json::{cut, is_number, Obj};
use crate::marks::{newly_reached, play_pct, scroll_pct};
use crate::pixel::Pixel;
use crate::url::is_outbound;
use crate::wire::*;
use alloc::string::String;
use alloc::vec::Vec;

/// The event of each video milestone bit (see `on_media`).
const VIDEO_KINDS: [&str; 5] =
    [kind::VIDEO_START, kind::VIDEO_PROGRESS, kind::VIDEO_PROGRESS, kind::VIDEO_PROGRESS, kind::VIDEO_COMPLETE];
/// Most videos tracked on one page view.
const MAX_VIDEOS: usize = 50;
/// Longest number text taken from an API call.
const MAX_NUMBER_LEN: usize = 32;
/// `purchase` fields that are not props.
const PURCHASE_FIELDS: [&str; 5] = ["order_id", "value", "currency", "product_id", "product_name"];

/// An API call's object as key, typed value pairs (see `host::ev::TRACK`).
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// The call's key, typed value pairs from argument `from` on.
fn pairs<'a>(args: &Args<'a>, from: usize) -> Pairs<'a> {
    let mut out = Vec::new();
    let mut i = from;
    while let (Some(Some(k)), Some(Some(v))) = (args.get(i), args.get(i + 1)) {
        out.push((*k, *v));
        i += 2;
    }
    out
}

/// The typed value of `key` in `pairs`: its tag (`s`, `n`, `b`) and text.
fn field<'a>(pairs: &Pairs<'a>, key: &str) -> (u8, &'a str) {
    match pairs.iter().find(|(k, _)| *k == key) {
        Some((_, v)) => typed(v),
        None => (0, ""),
    }
}

fn typed(v: &str) -> (u8, &str) {
    (v.bytes().next().unwrap_or(0), v.get(1..).unwrap_or(""))
}

/// A number for the wire: a JS number (the host sends finite ones only, as
/// JS prints them: JSON) or a numeric string ("49.90"); `None` otherwise.
fn number((tag, v): (u8, &str)) -> Option<&str> {
    match tag {
        b'n' => Some(v),
        b's' => Some(v.trim_ascii()).filter(|v| v.len() <= MAX_NUMBER_LEN && is_number(v)),
        _ => None,
    }
}

/// A string, or a number as text (ids given as numbers).
fn str_or_num((tag, v): (u8, &str)) -> &str {
    if matches!(tag, b's' | b'n') {
        v
    } else {
        ""
    }
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
        let top = self.h.get(Op::ScrollY);
        let pct = scroll_pct(top.max(0.0), self.h.get(Op::ViewH), self.h.get(Op::DocH));
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

    /// A click (`aux` for `auxclick`) with `button`; outbound when on a
    /// link to another host.
    pub(crate) fn on_click(&mut self, args: &Args, now: f64, button: f64, aux: f64) {
        self.active(now);
        if aux != 0.0 && button != 1.0 {
            return; // only the middle button opens a link
        }
        let href = arg(args, 2);
        if is_outbound(arg(args, 0), arg(args, 1), arg(args, 3)) {
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
        let mut names: Vec<&str> = Vec::new();
        for name in args.iter().skip(4).flatten() {
            let name = cut(name, MAX_PROP_KEY_LEN);
            if !name.is_empty() && names.len() < MAX_FORM_FIELDS && !names.contains(&name) {
                names.push(name);
            }
        }
        let mut e = self.event(kind::FORM_SUBMIT, now);
        e.opt("form_id", form_id, MAX_ID_LEN);
        e.opt("form_action", arg(args, 2), MAX_URL_LEN);
        e.raw("fields", &crate::batch::str_array(&names));
        self.push(e, now);
        if let Some(Some(email)) = args.get(3) {
            self.identify_with(email, "", now);
        }
    }

    /// `play`, `timeupdate` or `ended` of a media element at `time` of
    /// `duration` seconds: milestones of `<video>`s, once each per page view.
    pub(crate) fn on_media(&mut self, args: &Args, now: f64, time: f64, duration: f64) {
        if arg(args, 1) != "VIDEO" {
            return;
        }
        let mut id = arg(args, 2);
        if id.is_empty() {
            id = arg(args, 3);
        }
        // Milestones as bits: 0 start, 1..=3 the `VIDEO_MARKS`, 4 complete.
        let reached = match arg(args, 0) {
            "play" => 1,
            "ended" => 1 << 4,
            _ => play_pct(time, duration).map_or(0, |pct| newly_reached(&VIDEO_MARKS, 0, pct) << 1),
        };
        let videos = &mut self.page.videos;
        let marks = match videos.iter().position(|(v, _)| v == id) {
            Some(i) => i,
            None if !id.is_empty() && videos.len() < MAX_VIDEOS => {
                videos.push((String::from(id), 0));
                videos.len() - 1
            }
            None => return,
        };
        let Some((_, marks)) = videos.get_mut(marks) else { return };
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
        let name = arg(args, 0).trim_ascii();
        if name.is_empty() {
            return;
        }
        let props = pairs(args, 1);
        let mut e = self.event(kind::CUSTOM, now);
        e.str("name", name, MAX_ID_LEN);
        add_props(&mut e, &props, &[]);
        self.push(e, now);
    }

    /// `purchase({order_id, value, currency, product_id, product_name, ...})`;
    /// other keys become props. Ignored without an order id.
    pub(crate) fn purchase(&mut self, args: &Args, now: f64) {
        let o = pairs(args, 0);
        let order_id = str_or_num(field(&o, "order_id"));
        if order_id.is_empty() {
            return;
        }
        let mut e = self.event(kind::PURCHASE, now);
        e.str("order_id", order_id, MAX_ID_LEN);
        if let Some(v) = number(field(&o, "value")) {
            e.raw("value", v);
        }
        let currency = match field(&o, "currency") {
            (b's', c) => c.trim_ascii().to_ascii_uppercase(),
            _ => String::new(),
        };
        e.opt("currency", &currency, usize::MAX);
        e.opt("product_id", str_or_num(field(&o, "product_id")), MAX_ID_LEN);
        if let (b's', name) = field(&o, "product_name") {
            e.opt("product_name", name, MAX_TEXT_LEN);
        }
        add_props(&mut e, &o, &PURCHASE_FIELDS);
        self.push(e, now);
    }

    /// `identify({email} | {lead_id})`.
    pub(crate) fn identify(&mut self, args: &Args, now: f64) {
        let o = pairs(args, 0);
        let email = match field(&o, "email") {
            (b's', v) => v,
            _ => "",
        };
        self.identify_with(email, str_or_num(field(&o, "lead_id")), now);
    }

    fn identify_with(&mut self, email: &str, lead: &str, now: f64) {
        let email = email.trim_ascii().to_ascii_lowercase();
        let email = if email.bytes().any(|b| b == b'@') { email } else { String::new() };
        if email.is_empty() && lead.is_empty() {
            return;
        }
        let mut e = self.event(kind::IDENTIFY, now);
        e.opt("email", &email, MAX_TEXT_LEN);
        e.opt("lead_id", lead, MAX_ID_LEN);
        self.push(e, now);
    }
}

/// Adds `props` (strings, finite numbers and booleans; keys in `skip` left
/// out) to an event.
fn add_props(e: &mut Obj, props: &Pairs, skip: &[&str]) {
    let mut o = Obj::new();
    let mut n = 0;
    for &(key, v) in props {
        if n == MAX_PROPS || key.is_empty() || key.len() > MAX_PROP_KEY_LEN || skip.contains(&key) {
            continue;
        }
        match typed(v) {
            (b's', s) => o.str(key, s, MAX_PROP_VALUE_LEN),
            (b'b' | b'n', x) => o.raw(key, x),
            _ => continue,
        }
        n += 1;
    }
    if n > 0 {
        e.raw("props", &o.finish());
    }
}
