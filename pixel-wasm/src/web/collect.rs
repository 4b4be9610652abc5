//! Turning page events and API calls into ktra events.
use super::js::{call1, get, get_at, get_f64, get_str, num, str_or_num, to_number};
use super::pixel::Pixel;
use super::send::Task;
use crate::json::{cut, Obj};
use crate::marks::{newly_reached, play_pct, scroll_pct, VIDEO_COMPLETED, VIDEO_STARTED};
use crate::url::is_outbound;
use crate::wire::*;
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

/// Scroll events are coalesced into one measurement per this interval.
const SCROLL_DELAY_MS: f64 = 250.0;
/// Most videos tracked on one page view.
const MAX_VIDEOS: usize = 50;
/// Form control types that are not fields a visitor fills in.
const NOT_FIELDS: [&str; 5] = ["submit", "button", "reset", "image", "hidden"];

/// An element's attribute, or empty.
fn attr(el: &JsValue, name: &str) -> String {
    call1(el, "getAttribute", &JsValue::from_str(name)).as_string().unwrap_or_default()
}

impl Pixel {
    /// Dispatches one page event.
    pub fn handle(&mut self, ev: &JsValue, now: f64) {
        let ty = get_str(ev, "type");
        let target = get(ev, "target");
        match ty.as_str() {
            "click" => self.on_click(&target, now),
            "auxclick" if get_f64(ev, "button") == 1.0 => self.on_click(&target, now),
            "submit" => self.on_submit(&target, now),
            "play" | "timeupdate" | "ended" => self.on_media(&target, &ty, now),
            "popstate" => self.nav_soon(now),
            "visibilitychange" | "pagehide" if ty == "pagehide" || self.hidden() => self.on_hide(now),
            "scroll" => {
                self.active(now);
                self.send.schedule(Task::Scroll, now + SCROLL_DELAY_MS);
            }
            _ => self.active(now),
        }
    }

    /// User input (or the page shown again) on a visible page.
    fn active(&mut self, now: f64) {
        if !self.hidden() {
            self.page.engage.activity(now);
            self.touch(now);
        }
    }

    /// The page was hidden or is being left: report engagement and send
    /// everything by beacon.
    fn on_hide(&mut self, now: f64) {
        self.page.engage.pause(now);
        self.report_engagement(now);
        self.send.beacon();
    }

    /// Runs the timer's due tasks. `false` once the consent has expired
    /// (the pixel must stop).
    pub fn tick(&mut self, now: f64) -> bool {
        if now >= self.exp_ms() {
            return false;
        }
        let due = self.send.take_due(now);
        if due & Task::Init.bit() != 0 {
            self.init(now);
        }
        if due & Task::Nav.bit() != 0 {
            self.navigated(now);
        }
        if due & Task::Scroll.bit() != 0 {
            self.measure_scroll(now);
        }
        if due & Task::Flush.bit() != 0 {
            self.send.seal();
        }
        self.send.pump(now);
        self.send.arm();
        true
    }

    fn measure_scroll(&mut self, now: f64) {
        let top = get_f64(&self.win, "scrollY");
        let view = get_f64(&self.win, "innerHeight");
        let doc_h = get_f64(&get(&self.doc, "documentElement"), "scrollHeight");
        let pct = scroll_pct(if top.is_nan() { 0.0 } else { top }, view, doc_h);
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

    fn on_click(&mut self, target: &JsValue, now: f64) {
        self.active(now);
        let a = call1(target, "closest", &JsValue::from_str("a[href]"));
        let host = get_str(&get(&self.win, "location"), "hostname");
        if is_outbound(&get_str(&a, "protocol"), &get_str(&a, "hostname"), &host) {
            let mut e = self.event(kind::OUTBOUND_CLICK, now);
            e.str("target", &get_str(&a, "href"), MAX_URL_LEN);
            self.push(e, now);
        }
    }

    fn on_submit(&mut self, form: &JsValue, now: f64) {
        // Attributes rather than properties where a control named "id" or
        // "name" would shadow them; `action` is read resolved, unless a
        // control named "action" shadows it.
        let mut form_id = attr(form, "id");
        if form_id.is_empty() {
            form_id = attr(form, "name");
        }
        let action = get(form, "action").as_string().unwrap_or_else(|| attr(form, "action"));
        let identify = call1(form, "getAttribute", &JsValue::from_str("data-ktra-identify")).as_string();
        let (fields, email_el) = fields(form, identify.as_deref().unwrap_or(""));

        let mut e = self.event(kind::FORM_SUBMIT, now);
        e.opt("form_id", &form_id, MAX_ID_LEN);
        e.opt("form_action", &action, MAX_URL_LEN);
        e.raw("fields", &crate::batch::str_array(&fields));
        self.push(e, now);

        if identify.is_some() {
            self.identify_with(&get_str(&email_el, "value"), "", now);
        }
    }

    fn on_media(&mut self, el: &JsValue, ty: &str, now: f64) {
        if get_str(el, "tagName") != "VIDEO" {
            return;
        }
        let mut id = attr(el, "id");
        if id.is_empty() {
            id = get_str(el, "currentSrc");
        }
        if id.is_empty() {
            return;
        }
        let page = &mut self.page;
        let idx = match page.videos.iter().position(|v| *v == id) {
            Some(i) => i,
            None if page.videos.len() < MAX_VIDEOS => {
                page.videos.push(id.clone());
                page.video_marks.push(0);
                page.videos.len() - 1
            }
            None => return,
        };
        let Some(marks) = page.video_marks.get_mut(idx) else { return };
        let (flag, new) = match ty {
            "play" => (VIDEO_STARTED, 0),
            "ended" => (VIDEO_COMPLETED, 0),
            _ => match play_pct(get_f64(el, "currentTime"), get_f64(el, "duration")) {
                Some(pct) => (0, newly_reached(&VIDEO_MARKS, *marks, pct)),
                None => return,
            },
        };
        if *marks & flag != 0 || flag | new == 0 {
            return;
        }
        *marks |= flag | new;
        if flag != 0 {
            let k = if flag == VIDEO_STARTED { kind::VIDEO_START } else { kind::VIDEO_COMPLETE };
            let mut e = self.event(k, now);
            e.str("video_id", &id, MAX_URL_LEN);
            self.push(e, now);
        }
        for (i, m) in VIDEO_MARKS.iter().enumerate() {
            if new & (1 << i) != 0 {
                let mut e = self.event(kind::VIDEO_PROGRESS, now);
                e.str("video_id", &id, MAX_URL_LEN);
                e.int("percent", u64::from(*m));
                self.push(e, now);
            }
        }
    }

    /// `track(name, props)`.
    pub fn custom(&mut self, name: &JsValue, props: &JsValue, now: f64) {
        let name = name.as_string().unwrap_or_default();
        let name = name.trim_ascii();
        if name.is_empty() {
            return;
        }
        let mut e = self.event(kind::CUSTOM, now);
        e.str("name", name, MAX_ID_LEN);
        add_props(&mut e, props, &[]);
        self.push(e, now);
    }

    /// `purchase({order_id, value, currency, product_id, product_name, ...})`;
    /// other flat keys become props. Ignored without an order id.
    pub fn purchase(&mut self, o: &JsValue, now: f64) {
        const KNOWN: [&str; 5] = ["order_id", "value", "currency", "product_id", "product_name"];
        let order_id = str_or_num(&get(o, "order_id"));
        if order_id.is_empty() {
            return;
        }
        let mut e = self.event(kind::PURCHASE, now);
        e.str("order_id", &order_id, MAX_ID_LEN);
        if let Some(v) = num(to_number(&get(o, "value"))) {
            e.raw("value", &v);
        }
        e.opt("currency", &get_str(o, "currency").trim_ascii().to_ascii_uppercase(), usize::MAX);
        e.opt("product_id", &str_or_num(&get(o, "product_id")), MAX_ID_LEN);
        e.opt("product_name", &get_str(o, "product_name"), MAX_TEXT_LEN);
        add_props(&mut e, o, &KNOWN);
        self.push(e, now);
    }

    /// `identify({email} | {lead_id})`.
    pub fn identify(&mut self, o: &JsValue, now: f64) {
        let email = get_str(o, "email");
        self.identify_with(&email, &str_or_num(&get(o, "lead_id")), now);
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

/// Names of the fields a visitor fills in (never values), and the field
/// holding the email address for `data-ktra-identify` forms: the one named
/// by the attribute, else the first `type=email`, else the first whose name
/// contains "email".
fn fields(form: &JsValue, want: &str) -> (Vec<String>, JsValue) {
    let mut names: Vec<String> = Vec::new();
    let (mut email, mut best) = (JsValue::UNDEFINED, 0);
    let list = call1(form, "querySelectorAll", &JsValue::from_str("input,select,textarea"));
    let n = get_f64(&list, "length");
    let mut i = 0;
    while f64::from(i) < n {
        let el = get_at(&list, i);
        i += 1;
        let name = attr(&el, "name");
        let ty = attr(&el, "type").to_ascii_lowercase();
        let rank = if !want.is_empty() && name == want {
            3
        } else if ty == "email" {
            2
        } else if has_email(&name) {
            1
        } else {
            0
        };
        if rank > best {
            (email, best) = (el, rank);
        }
        if name.is_empty() || NOT_FIELDS.contains(&ty.as_str()) {
            continue;
        }
        let name = String::from(cut(&name, MAX_PROP_KEY_LEN));
        if names.len() < MAX_FORM_FIELDS && !names.contains(&name) {
            names.push(name);
        }
    }
    (names, email)
}

/// Whether a field name contains "email", in any case.
fn has_email(name: &str) -> bool {
    name.as_bytes().windows(5).any(|w| w.eq_ignore_ascii_case(b"email"))
}

/// Adds `props` (strings, finite numbers and booleans of a flat object,
/// keys in `skip` left out) to an event.
fn add_props(e: &mut Obj, props: &JsValue, skip: &[&str]) {
    if !props.is_object() {
        return;
    }
    let keys = call1(&get(&super::js::global(), "Object"), "keys", props);
    let mut o = Obj::new();
    let mut n = 0;
    let mut i = 0;
    while let Some(key) = get_at(&keys, i).as_string() {
        i += 1;
        if n == MAX_PROPS || key.is_empty() || key.len() > MAX_PROP_KEY_LEN || skip.contains(&key.as_str()) {
            continue;
        }
        let v = get(props, &key);
        if let Some(s) = v.as_string() {
            o.str(&key, &s, MAX_PROP_VALUE_LEN);
        } else if v == JsValue::TRUE || v == JsValue::FALSE {
            o.raw(&key, if v == JsValue::TRUE { "true" } else { "false" });
        } else if let Some(x) = v.as_f64().and_then(num) {
            o.raw(&key, &x);
        } else {
            continue;
        }
        n += 1;
    }
    if n > 0 {
        e.raw("props", &o.finish());
    }
}
