//! Turning page events and API calls into ktra events.
use super::dom::{attr, get, get_f64, get_str, num, str_or_num, target_element};
use super::pixel::Pixel;
use super::send::Task;
use crate::json::{cut, Obj};
use crate::marks::{newly_reached, play_pct, scroll_pct, VIDEO_COMPLETED, VIDEO_STARTED};
use crate::url::is_outbound;
use crate::wire::*;
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, Event};

/// Delay between a history change and the page view, so that the new
/// page's title is set and redirects (push then replace) collapse.
const NAV_DELAY_MS: f64 = 100.0;
/// Scroll events are coalesced into one measurement per this interval.
const SCROLL_DELAY_MS: f64 = 250.0;
/// Most videos tracked on one page view.
const MAX_VIDEOS: usize = 50;
/// Form control types that are not fields a visitor fills in.
const NOT_FIELDS: [&str; 5] = ["submit", "button", "reset", "image", "hidden"];

impl Pixel {
    /// Dispatches one page event.
    pub fn handle(&mut self, ev: &Event, now: f64) {
        let ty = ev.type_();
        match ty.as_str() {
            "click" => self.on_click(ev, now),
            "auxclick" if get_f64(ev, "button") == 1.0 => self.on_click(ev, now),
            "submit" => self.on_submit(ev, now),
            "play" | "timeupdate" | "ended" => self.on_media(ev, &ty, now),
            "popstate" => self.send.schedule(Task::Nav, now + NAV_DELAY_MS, &self.win),
            "visibilitychange" if self.doc.hidden() => self.hidden(now),
            "pagehide" => self.hidden(now),
            "scroll" => {
                self.active(now);
                self.send.schedule(Task::Scroll, now + SCROLL_DELAY_MS, &self.win);
            }
            _ => self.active(now),
        }
    }

    /// User input (or the page shown again) on a visible page.
    fn active(&mut self, now: f64) {
        if !self.doc.hidden() {
            self.page.engage.activity(now);
            self.touch(now);
        }
    }

    /// The page was hidden or is being left: report engagement and send
    /// everything by beacon.
    fn hidden(&mut self, now: f64) {
        self.page.engage.pause(now);
        self.report_engagement(now);
        self.send.beacon(&self.win);
    }

    /// Runs the timer's due tasks.
    pub fn tick(&mut self, now: f64) {
        let due = self.send.take_due(now);
        if due & (1 << Task::Nav as u8) != 0 {
            self.navigated(now);
        }
        if due & (1 << Task::Scroll as u8) != 0 {
            self.measure_scroll(now);
        }
        if due & (1 << Task::Flush as u8) != 0 {
            self.send.seal();
        }
        self.send.pump(now);
        self.send.arm(&self.win);
    }

    fn measure_scroll(&mut self, now: f64) {
        let top = self.win.scroll_y().unwrap_or(0.0);
        let view = self.win.inner_height().ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let doc_h = self.doc.document_element().map(|e| f64::from(e.scroll_height())).unwrap_or(0.0);
        let new = newly_reached(&SCROLL_DEPTHS, self.page.scroll, scroll_pct(top, view, doc_h));
        self.page.scroll |= new;
        for (i, d) in SCROLL_DEPTHS.iter().enumerate() {
            if new & (1 << i) != 0 {
                let mut e = self.event(kind::SCROLL, now);
                e.int("depth", u64::from(*d));
                self.push(e, now);
            }
        }
    }

    fn on_click(&mut self, ev: &Event, now: f64) {
        self.active(now);
        let Some(el) = target_element(ev) else { return };
        let Ok(Some(a)) = el.closest("a[href]") else { return };
        let href = get_str(&a, "href");
        if is_outbound(&href, &self.page.url) {
            let mut e = self.event(kind::OUTBOUND_CLICK, now);
            e.str("target", &href, MAX_URL_LEN);
            self.push(e, now);
        }
    }

    fn on_submit(&mut self, ev: &Event, now: f64) {
        let Some(form) = target_element(ev) else { return };
        // Attributes, not properties: a control named "id" or "action"
        // shadows `form.id` / `form.action`.
        let mut form_id = attr(&form, "id");
        if form_id.is_empty() {
            form_id = attr(&form, "name");
        }
        let action = attr(&form, "action");
        let action = web_sys::Url::new_with_base(&action, &self.page.url)
            .map(|u| u.href())
            .unwrap_or(action);
        let identify = form.get_attribute("data-ktra-identify");
        let (fields, email_el) = fields(&form, identify.as_deref().unwrap_or(""));

        let mut e = self.event(kind::FORM_SUBMIT, now);
        e.opt("form_id", &form_id, MAX_ID_LEN);
        e.opt("form_action", &action, MAX_URL_LEN);
        e.raw("fields", &crate::batch::str_array(&fields));
        self.push(e, now);

        if identify.is_some() {
            let email = email_el.map(|el| get_str(&el, "value")).unwrap_or_default();
            self.identify_with(&email, "", now);
        }
    }

    fn on_media(&mut self, ev: &Event, ty: &str, now: f64) {
        let Some(el) = target_element(ev) else { return };
        if el.tag_name() != "VIDEO" {
            return;
        }
        let mut id = attr(&el, "id");
        if id.is_empty() {
            id = get_str(&el, "currentSrc");
        }
        if id.is_empty() {
            return;
        }
        let idx = match self.page.videos.iter().position(|(v, _)| *v == id) {
            Some(i) => i,
            None if self.page.videos.len() < MAX_VIDEOS => {
                self.page.videos.push((id.clone(), 0));
                self.page.videos.len() - 1
            }
            None => return,
        };
        let sent = self.page.videos[idx].1;
        let (flag, k, new) = match ty {
            "play" => (VIDEO_STARTED, kind::VIDEO_START, 0),
            "ended" => (VIDEO_COMPLETED, kind::VIDEO_COMPLETE, 0),
            _ => {
                let Some(pct) = play_pct(get_f64(&el, "currentTime"), get_f64(&el, "duration")) else { return };
                (0, kind::VIDEO_PROGRESS, newly_reached(&VIDEO_MARKS, sent, pct))
            }
        };
        if (flag != 0 && sent & flag != 0) || (flag == 0 && new == 0) {
            return;
        }
        self.page.videos[idx].1 |= flag | new;
        if flag != 0 {
            let mut e = self.event(k, now);
            e.str("video_id", &id, MAX_URL_LEN);
            self.push(e, now);
        }
        for (i, m) in VIDEO_MARKS.iter().enumerate() {
            if new & (1 << i) != 0 {
                let mut e = self.event(k, now);
                e.str("video_id", &id, MAX_URL_LEN);
                e.int("percent", u64::from(*m));
                self.push(e, now);
            }
        }
    }

    /// `track(name, props)`.
    pub fn custom(&mut self, name: &JsValue, props: &JsValue, now: f64) {
        let name = name.as_string().unwrap_or_default();
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut e = self.event(kind::CUSTOM, now);
        e.str("name", name, MAX_ID_LEN);
        add_props(&mut e, props, &[]);
        self.push(e, now);
    }

    /// `purchase({order_id, value, currency, product_id, product_name, ...})`;
    /// other flat keys become props.
    pub fn purchase(&mut self, o: &JsValue, now: f64) {
        const KNOWN: [&str; 5] = ["order_id", "value", "currency", "product_id", "product_name"];
        let mut e = self.event(kind::PURCHASE, now);
        e.opt("order_id", &str_or_num(&get(o, "order_id")), MAX_ID_LEN);
        let value = get(o, "value");
        let value = value.as_f64().or_else(|| value.as_string().map(|s| js_sys::Number::parse_float(&s)));
        if let Some(v) = value.and_then(num) {
            e.raw("value", &v);
        }
        e.opt("currency", &get_str(o, "currency").trim().to_ascii_uppercase(), usize::MAX);
        e.opt("product_id", &str_or_num(&get(o, "product_id")), MAX_ID_LEN);
        e.opt("product_name", &get_str(o, "product_name"), MAX_TEXT_LEN);
        add_props(&mut e, o, &KNOWN);
        self.push(e, now);
    }

    /// `identify({email} | {lead_id})`.
    pub fn identify(&mut self, o: &JsValue, now: f64) {
        let email = get_str(o, "email");
        let lead = str_or_num(&get(o, "lead_id"));
        self.identify_with(&email, &lead, now);
    }

    fn identify_with(&mut self, email: &str, lead: &str, now: f64) {
        let email = email.trim().to_ascii_lowercase();
        let email = if email.contains('@') { email } else { String::new() };
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
fn fields(form: &Element, want: &str) -> (Vec<String>, Option<Element>) {
    let mut names: Vec<String> = Vec::new();
    let mut email: Option<(u8, Element)> = None;
    let Ok(list) = form.query_selector_all("input,select,textarea") else { return (names, None) };
    for i in 0..list.length() {
        let Some(node) = list.get(i) else { continue };
        let el: Element = node.unchecked_into();
        let name = attr(&el, "name");
        let ty = attr(&el, "type").to_ascii_lowercase();
        let rank = if !want.is_empty() && name == want {
            3
        } else if ty == "email" {
            2
        } else if name.to_ascii_lowercase().contains("email") {
            1
        } else {
            0
        };
        if rank > email.as_ref().map(|e| e.0).unwrap_or(0) {
            email = Some((rank, el));
        }
        if name.is_empty() || NOT_FIELDS.contains(&ty.as_str()) {
            continue;
        }
        let name = String::from(cut(&name, MAX_PROP_KEY_LEN));
        if names.len() < MAX_FORM_FIELDS && !names.contains(&name) {
            names.push(name);
        }
    }
    (names, email.map(|e| e.1))
}

/// Adds `props` (strings, finite numbers and booleans of a flat object,
/// keys in `skip` left out) to an event.
fn add_props(e: &mut Obj, props: &JsValue, skip: &[&str]) {
    if !props.is_object() {
        return;
    }
    let keys = js_sys::Object::keys(props.unchecked_ref::<js_sys::Object>());
    let mut o = Obj::new();
    let mut n = 0;
    for k in keys.iter() {
        let Some(key) = k.as_string() else { continue };
        if n == MAX_PROPS || key.is_empty() || key.len() > MAX_PROP_KEY_LEN || skip.contains(&key.as_str()) {
            continue;
        }
        let v = get(props, &key);
        if let Some(s) = v.as_string() {
            o.str(&key, &s, MAX_PROP_VALUE_LEN);
        } else if let Some(b) = v.as_bool() {
            o.raw(&key, if b { "true" } else { "false" });
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
