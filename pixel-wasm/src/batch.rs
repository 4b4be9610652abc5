//! Event and batch encoding (the `ktra_schema::wire` shapes), and splitting
//! a queue into request bodies that stay under the keepalive/beacon limit.
use crate::json::Obj;
use crate::wire::{MAX_EVENTS_PER_BATCH, MAX_ID_LEN, MAX_URL_LEN};
use alloc::string::String;
use alloc::vec::Vec;

/// Largest request body: keepalive `fetch` and `sendBeacon` share a 64 KiB
/// in-flight budget, so one body takes at most half of it.
pub const MAX_BODY_BYTES: usize = 32 * 1024;
/// Most events in one request body.
pub const MAX_BATCH_EVENTS: usize = 50;
const _: () = assert!(MAX_BATCH_EVENTS <= MAX_EVENTS_PER_BATCH);

/// Starts an event with the fields every event has.
pub fn event(kind: &str, id: &str, ts_ms: u64, url: &str, referrer: &str) -> Obj {
    let mut o = Obj::new();
    o.str("id", id, MAX_ID_LEN);
    o.str("type", kind, MAX_ID_LEN);
    o.int("ts", ts_ms);
    o.str("url", url, MAX_URL_LEN);
    o.opt("referrer", referrer, MAX_URL_LEN);
    o
}

/// Batch-level fields: what every event of a request shares.
pub struct Header<'a> {
    /// Site id.
    pub site: &'a str,
    /// Consent token.
    pub consent: &'a str,
    /// Visitor id.
    pub vid: &'a str,
    /// Session id.
    pub sid: &'a str,
    /// The session's `utm` object text; empty for none.
    pub utm: &'a str,
    /// The session's email click id; empty for none.
    pub ec: &'a str,
}

impl Header<'_> {
    /// The batch text up to the events array's opening bracket.
    pub fn prefix(&self) -> String {
        let mut o = Obj::new();
        o.str("site", self.site, MAX_ID_LEN);
        o.opt("consent", self.consent, usize::MAX);
        o.str("vid", self.vid, MAX_ID_LEN);
        o.str("sid", self.sid, MAX_ID_LEN);
        if !self.utm.is_empty() {
            o.raw("utm", self.utm);
        }
        o.opt("ec", self.ec, MAX_ID_LEN);
        o.raw("events", "[");
        o.finish_open()
    }
}

/// Seals `events` (oldest first) into request bodies after `prefix`,
/// appended to `out`: each with at most [`MAX_BATCH_EVENTS`] events and
/// [`MAX_BODY_BYTES`] (an event bigger than that alone still goes, alone).
pub fn seal(prefix: &str, events: &[String], out: &mut Vec<String>) {
    let mut body = String::new();
    let mut n = 0;
    for ev in events {
        if n > 0 && (n == MAX_BATCH_EVENTS || body.len() + ev.len() + 3 > MAX_BODY_BYTES) {
            body.push_str("]}");
            out.push(core::mem::take(&mut body));
            n = 0;
        }
        if n == 0 {
            body.push_str(prefix);
        } else {
            body.push_str(",");
        }
        body.push_str(ev);
        n += 1;
    }
    if n > 0 {
        body.push_str("]}");
        out.push(body);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::url::{test_param, utm_json};
    use crate::wire::kind;
    use ktra_schema::wire::{Batch, PropValue, RawEvent};
    use ktra_schema::{validate_event, EventType};

    const ID: &str = "0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a";
    const TS: u64 = 1_750_000_000_000;

    fn header_prefix(utm: &str, ec: &str) -> String {
        Header { site: "demo", consent: "v1.tok\"en", vid: "vid-1", sid: "sid-1", utm, ec }.prefix()
    }

    fn one_body(prefix: &str, events: Vec<String>) -> String {
        let mut out = Vec::new();
        seal(prefix, &events, &mut out);
        assert_eq!(out.len(), 1);
        out.pop().unwrap()
    }

    /// Every event type as the pixel encodes it decodes into ktra-schema's
    /// types and passes the collector's validation.
    #[test]
    fn every_event_type_decodes_and_validates() {
        let url = "https://shop.example/p?q=\"x\"";
        let mut q = Vec::new();
        let mut e = event(kind::PAGE_VIEW, ID, TS, url, "https://ref.example/");
        e.str("title", "Héllo \"shop\"\n", 512);
        q.push(e.finish());
        let mut e = event(kind::SCROLL, ID, TS, url, "");
        e.int("depth", 75);
        q.push(e.finish());
        let mut e = event(kind::ENGAGEMENT, ID, TS, url, "");
        e.int("engaged_ms", 12_345);
        q.push(e.finish());
        let mut e = event(kind::FORM_SUBMIT, ID, TS, url, "");
        e.str("form_id", "signup", 128);
        e.str("form_action", "https://shop.example/signup", 2048);
        e.raw("fields", r#"["email","na\"me"]"#);
        q.push(e.finish());
        for (k, pct) in [(kind::VIDEO_START, 0), (kind::VIDEO_PROGRESS, 50), (kind::VIDEO_COMPLETE, 0)] {
            let mut e = event(k, ID, TS, url, "");
            e.str("video_id", "https://cdn.example/v.mp4", 2048);
            if pct > 0 {
                e.int("percent", pct);
            }
            q.push(e.finish());
        }
        let mut e = event(kind::PURCHASE, ID, TS, url, "");
        e.str("order_id", "A-1", 128);
        e.raw("value", "49.9");
        e.str("currency", "EUR", 3);
        e.str("product_id", "p1", 128);
        e.str("product_name", "Course", 512);
        e.raw("props", r#"{"coupon":"X","qty":2,"gift":false}"#);
        q.push(e.finish());
        let mut e = event(kind::OUTBOUND_CLICK, ID, TS, url, "");
        e.str("target", "https://other.example/", 2048);
        q.push(e.finish());
        let mut e = event(kind::EMAIL_CLICK, ID, TS, url, "");
        e.str("click_id", "ec_1", 128);
        q.push(e.finish());
        let mut e = event(kind::IDENTIFY, ID, TS, url, "");
        e.str("email", "a@b.example", 512);
        q.push(e.finish());
        let mut e = event(kind::CUSTOM, ID, TS, url, "");
        e.str("name", "signup", 128);
        e.raw("props", r#"{"plan":"pro","n":1.5e-7,"ok":true}"#);
        q.push(e.finish());

        let utm = utm_json(test_param("https://s.example/?utm_source=news&utm_medium=email&gclid=G"));
        let body = one_body(&header_prefix(&utm, "ec_1"), q);
        let b: Batch = serde_json::from_str(&body).unwrap();
        assert_eq!(b.site, "demo");
        assert_eq!(b.consent.as_deref(), Some("v1.tok\"en"));
        assert_eq!((b.vid.as_str(), b.sid.as_str()), ("vid-1", "sid-1"));
        let utm = b.utm.unwrap();
        assert_eq!(utm.source.as_deref(), Some("news"));
        assert_eq!(utm.gclid.as_deref(), Some("G"));
        assert_eq!(utm.campaign, None);
        assert_eq!(b.ec.as_deref(), Some("ec_1"));
        let kinds: Vec<&str> = b.events.iter().map(|e| e.kind.as_str()).collect();
        let all: Vec<&str> = EventType::ALL.iter().filter(|t| !t.server_only()).map(|t| t.as_str()).collect();
        assert_eq!(kinds, all);
        for ev in &b.events {
            assert_eq!(ev.ts, Some(TS as i64));
            validate_event(ev.clone(), TS as i64).unwrap_or_else(|r| panic!("{}: {r:?}", ev.kind));
        }
        assert_eq!(b.events[0].title.as_deref(), Some("Héllo \"shop\"\n"));
        assert_eq!(b.events[0].url.as_deref(), Some(url));
        assert_eq!(b.events[3].fields.as_deref(), Some(&["email".to_string(), "na\"me".to_string()][..]));
        let p = b.events[7].props.as_ref().unwrap();
        assert_eq!(p["qty"], PropValue::Num(2.0));
        assert_eq!(p["gift"], PropValue::Bool(false));
        assert_eq!(b.events[7].value, Some(49.9));
    }

    #[test]
    fn batches_without_campaign_leave_utm_and_ec_out() {
        let q = vec![event(kind::PAGE_VIEW, ID, TS, "https://s.example/", "").finish()];
        let body = one_body(&header_prefix("", ""), q);
        assert!(!body.contains("utm") && !body.contains("\"ec\""), "{body}");
        let b: Batch<RawEvent> = serde_json::from_str(&body).unwrap();
        assert!(b.utm.is_none() && b.ec.is_none());
        assert_eq!(b.events.len(), 1);
        let mut none = Vec::new();
        seal("x", &[], &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn long_queues_split_under_the_body_limit_keeping_order() {
        let prefix = header_prefix("", "");
        let q: Vec<String> = (0..300)
            .map(|i| {
                let mut e = event(kind::CUSTOM, ID, TS + i, &"https://s.example/".repeat(100), "");
                e.str("name", "n", 128);
                e.finish()
            })
            .collect();
        let mut bodies = Vec::new();
        seal(&prefix, &q, &mut bodies);
        let mut seen = 0u64;
        for body in bodies {
            assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
            let b: Batch = serde_json::from_str(&body).unwrap();
            assert!(!b.events.is_empty() && b.events.len() <= MAX_BATCH_EVENTS);
            for e in b.events {
                assert_eq!(e.ts, Some((TS + seen) as i64));
                seen += 1;
            }
        }
        assert_eq!(seen, 300);
        let small: Vec<String> = (0..120).map(|_| event(kind::SCROLL, ID, TS, "u", "").finish()).collect();
        let mut bodies = Vec::new();
        seal(&prefix, &small, &mut bodies);
        let sizes: Vec<usize> = bodies.iter().map(|b| serde_json::from_str::<Batch>(b).unwrap().events.len()).collect();
        assert_eq!(sizes, [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 20]);
    }

    #[test]
    fn fields_are_cut_to_the_collector_limits() {
        let long = "é".repeat(3000);
        let mut e = event(kind::PAGE_VIEW, ID, TS, &long, &long);
        e.str("title", &long, crate::wire::MAX_TEXT_LEN);
        let body = one_body(&header_prefix("", ""), vec![e.finish()]);
        let b: Batch = serde_json::from_str(&body).unwrap();
        let ev = &b.events[0];
        assert!(ev.url.as_ref().unwrap().len() <= MAX_URL_LEN);
        assert!(ev.title.as_ref().unwrap().len() <= crate::wire::MAX_TEXT_LEN);
        assert!(validate_event(ev.clone(), TS as i64).is_ok());
    }
}
