//! Validation of one event: required fields per type, sizes, value ranges and
//! the timestamp window. A rejected event carries a [`RejectReason`] (a fixed
//! set, used as a metric label) and a message naming the field.
use crate::limits::*;
pub use crate::reject::{Reject, RejectReason};
use crate::wire::{Batch, EventType, PropValue, RawEvent};

/// An event that passed validation, with normalized values.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    /// Event id as 16 bytes.
    pub id: [u8; 16],
    /// Type.
    pub kind: EventType,
    /// Client time clamped to the accepted window, ms since epoch.
    pub ts_ms: i64,
    /// Whether `ts_ms` had to be clamped (or was missing).
    pub ts_clamped: bool,
    /// The validated event (strings checked, still owned).
    pub raw: RawEvent,
}

/// Parses a UUID in its hyphenated text form (any version) into bytes.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < 36 {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        let hi = hex(b[i])?;
        let lo = hex(b[i + 1])?;
        out[n] = (hi << 4) | lo;
        n += 1;
        i += 2;
    }
    Some(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether `s` is a valid opaque id (visitor, session, click): 1 to
/// [`MAX_ID_LEN`] characters of `[A-Za-z0-9_.-]`.
pub fn is_token_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

fn check_len(field: &str, v: &Option<String>, max: usize) -> Result<(), Reject> {
    match v {
        Some(s) if s.len() > max => {
            Err(Reject::new(RejectReason::TooLong, format!("{field} is {} bytes, the limit is {max}", s.len())))
        }
        _ => Ok(()),
    }
}

fn require<'a>(field: &str, kind: EventType, v: &'a Option<String>) -> Result<&'a str, Reject> {
    match v.as_deref() {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(Reject::new(RejectReason::MissingField, format!("{} event needs a non-empty {field}", kind.as_str()))),
    }
}

/// Validates what a batch carries besides its events: the event count, the
/// visitor, session and email click ids, the consent token's length, and the
/// campaign. Batch-level fields are copied into every row, so each is bounded
/// and so is their sum ([`MAX_SHARED_BYTES`]).
pub fn validate_batch<E>(b: &Batch<E>) -> Result<(), Reject> {
    let n = b.events.len();
    if n == 0 {
        return Err(Reject::new(RejectReason::MissingField, "batch has no events"));
    }
    if n > MAX_EVENTS_PER_BATCH {
        return Err(Reject::new(
            RejectReason::TooManyEvents,
            format!("batch has {n} events, the limit is {MAX_EVENTS_PER_BATCH}"),
        ));
    }
    for (name, v) in [("vid", b.vid.as_str()), ("sid", b.sid.as_str())] {
        if !is_token_id(v) {
            return Err(Reject::new(
                RejectReason::BadValue,
                format!("{name} must be 1 to {MAX_ID_LEN} characters of [A-Za-z0-9_.-]"),
            ));
        }
    }
    let ec = b.ec.as_deref().unwrap_or("");
    if !ec.is_empty() && !is_token_id(ec) {
        return Err(Reject::new(
            RejectReason::BadValue,
            format!("ec must be 1 to {MAX_ID_LEN} characters of [A-Za-z0-9_.-]"),
        ));
    }
    if let Some(t) = &b.consent {
        if t.len() > MAX_TOKEN_LEN {
            return Err(Reject::new(RejectReason::TooLong, format!("consent token exceeds {MAX_TOKEN_LEN} bytes")));
        }
    }
    let mut shared = b.vid.len() + b.sid.len() + ec.len();
    if let Some(utm) = &b.utm {
        for (field, v) in utm.fields() {
            let v = v.as_deref().unwrap_or("");
            if v.len() > MAX_CAMPAIGN_LEN {
                return Err(Reject::new(
                    RejectReason::TooLong,
                    format!("utm.{field} is {} bytes, the limit is {MAX_CAMPAIGN_LEN}", v.len()),
                ));
            }
            if v.chars().any(char::is_control) {
                return Err(Reject::new(RejectReason::BadValue, format!("utm.{field} has control characters")));
            }
            shared += v.len();
        }
    }
    if shared > MAX_SHARED_BYTES {
        return Err(Reject::new(
            RejectReason::TooLong,
            format!("batch-level fields are {shared} bytes together, the limit is {MAX_SHARED_BYTES}"),
        ));
    }
    Ok(())
}

/// Refuses a request whose rows would take more than [`max_stored_bytes`] of
/// its body: what one request stores stays a small multiple of what it sent.
pub fn check_amplification(stored: usize, body_len: usize) -> Result<(), Reject> {
    let max = max_stored_bytes(body_len);
    if stored > max {
        return Err(Reject::new(
            RejectReason::Amplification,
            format!(
                "the batch would store {stored} bytes from a body of {body_len} (limit {max}); send fewer shared bytes"
            ),
        ));
    }
    Ok(())
}

/// Who reports an event: what it may report and what it must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sender {
    /// The pixel in a visitor's browser (`POST /v1/events`): every event is
    /// about a page; server-only types are refused.
    #[default]
    Browser,
    /// The site's own server with its site key (`POST /v1/server/events`,
    /// Stripe): orders and leads only, no page needed.
    Server,
}

impl Sender {
    /// The `events.source` column value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Server => "server",
        }
    }

    /// Whether this sender may report `kind`.
    pub const fn may_send(self, kind: EventType) -> bool {
        match self {
            Self::Browser => !kind.server_only(),
            Self::Server => {
                matches!(
                    kind,
                    EventType::Purchase | EventType::Refund | EventType::SubscriptionCancel | EventType::Lead
                )
            }
        }
    }
}

/// How far back a server's event time may lie: 400 days (a refund names
/// its charge's time; a backfill sends old orders). Browsers get
/// `MAX_PAST_MS` (72 hours).
pub const MAX_SERVER_PAST_MS: i64 = 400 * 86_400 * 1000;

/// Validates one event a browser sent, received at `now_ms`.
pub fn validate_event(ev: RawEvent, now_ms: i64) -> Result<ValidEvent, Reject> {
    validate_from(Sender::Browser, ev, now_ms)
}

/// Validates one event `sender` reported, received at `now_ms`.
pub fn validate_from(sender: Sender, ev: RawEvent, now_ms: i64) -> Result<ValidEvent, Reject> {
    let kind = EventType::parse(&ev.kind).ok_or_else(|| {
        Reject::new(RejectReason::UnknownType, format!("unknown event type {:?}", truncate(&ev.kind, 40)))
    })?;
    if !sender.may_send(kind) {
        return Err(match sender {
            Sender::Browser => Reject::new(
                RejectReason::ServerOnly,
                format!("{} events come only from the site's server (POST /v1/server/events)", kind.as_str()),
            ),
            Sender::Server => Reject::new(
                RejectReason::UnknownType,
                format!("server events are purchase, refund, subscription_cancel or lead, not {}", kind.as_str()),
            ),
        });
    }
    let id = parse_uuid(&ev.id)
        .ok_or_else(|| Reject::new(RejectReason::BadEventId, format!("id {:?} is not a UUID", truncate(&ev.id, 40))))?;

    for (field, v, max) in [
        ("url", &ev.url, MAX_URL_LEN),
        ("referrer", &ev.referrer, MAX_URL_LEN),
        ("target", &ev.target, MAX_URL_LEN),
        ("form_action", &ev.form_action, MAX_URL_LEN),
        ("title", &ev.title, MAX_TEXT_LEN),
        ("product_name", &ev.product_name, MAX_TEXT_LEN),
        ("email", &ev.email, MAX_TEXT_LEN),
        ("form_id", &ev.form_id, MAX_ID_LEN),
        ("video_id", &ev.video_id, MAX_URL_LEN),
        ("order_id", &ev.order_id, MAX_ID_LEN),
        ("product_id", &ev.product_id, MAX_ID_LEN),
        ("click_id", &ev.click_id, MAX_ID_LEN),
        ("lead_id", &ev.lead_id, MAX_ID_LEN),
        ("name", &ev.name, MAX_ID_LEN),
        ("currency", &ev.currency, 3),
    ] {
        check_len(field, v, max)?;
    }
    if let Some(fields) = &ev.fields {
        if fields.len() > MAX_FORM_FIELDS {
            return Err(Reject::new(
                RejectReason::TooManyProps,
                format!("form has {} fields, the limit is {MAX_FORM_FIELDS}", fields.len()),
            ));
        }
        if fields.iter().any(|f| f.len() > MAX_PROP_KEY_LEN) {
            return Err(Reject::new(
                RejectReason::TooLong,
                format!("a form field name exceeds {MAX_PROP_KEY_LEN} bytes"),
            ));
        }
    }
    if let Some(props) = &ev.props {
        if props.len() > MAX_PROPS {
            return Err(Reject::new(
                RejectReason::TooManyProps,
                format!("{} props, the limit is {MAX_PROPS}", props.len()),
            ));
        }
        for (k, v) in props {
            if k.is_empty() || k.len() > MAX_PROP_KEY_LEN {
                return Err(Reject::new(
                    RejectReason::TooLong,
                    format!("prop key must be 1 to {MAX_PROP_KEY_LEN} bytes"),
                ));
            }
            if let PropValue::Str(s) = v {
                if s.len() > MAX_PROP_VALUE_LEN {
                    return Err(Reject::new(
                        RejectReason::TooLong,
                        format!("prop {:?} value exceeds {MAX_PROP_VALUE_LEN} bytes", truncate(k, 40)),
                    ));
                }
            }
        }
    }

    // Every browser event is about a page.
    if sender == Sender::Browser {
        require("url", kind, &ev.url)?;
    }
    match kind {
        EventType::Scroll => match ev.depth {
            Some(d) if SCROLL_DEPTHS.contains(&d) => {}
            Some(d) => {
                return Err(Reject::new(
                    RejectReason::BadValue,
                    format!("scroll depth {d} is not one of 25, 50, 75, 90, 100"),
                ))
            }
            None => return Err(Reject::new(RejectReason::MissingField, "scroll event needs depth")),
        },
        EventType::Engagement => match ev.engaged_ms {
            Some(ms) if ms <= MAX_ENGAGED_MS => {}
            Some(ms) => return Err(Reject::new(RejectReason::BadValue, format!("engaged_ms {ms} exceeds 24 hours"))),
            None => return Err(Reject::new(RejectReason::MissingField, "engagement event needs engaged_ms")),
        },
        EventType::FormSubmit => {
            if ev.form_id.as_deref().unwrap_or("").is_empty() && ev.form_action.as_deref().unwrap_or("").is_empty() {
                return Err(Reject::new(RejectReason::MissingField, "form_submit event needs form_id or form_action"));
            }
        }
        EventType::VideoStart | EventType::VideoComplete => {
            require("video_id", kind, &ev.video_id)?;
        }
        EventType::VideoProgress => {
            require("video_id", kind, &ev.video_id)?;
            match ev.percent {
                Some(p) if VIDEO_MARKS.contains(&p) => {}
                Some(p) => {
                    return Err(Reject::new(
                        RejectReason::BadValue,
                        format!("video percent {p} is not one of 25, 50, 75"),
                    ))
                }
                None => return Err(Reject::new(RejectReason::MissingField, "video_progress event needs percent")),
            }
        }
        EventType::Purchase | EventType::Refund => {
            require("order_id", kind, &ev.order_id)?;
            let what = kind.as_str();
            match ev.value {
                // A refund is the amount given back (full or partial), stored as negative revenue.
                Some(v) if kind == EventType::Refund && v == 0.0 => {
                    return Err(Reject::new(
                        RejectReason::BadValue,
                        "refund value must be the amount refunded, above 0",
                    ))
                }
                Some(v) if v.is_finite() && (0.0..1e12).contains(&v) => {}
                Some(_) => {
                    return Err(Reject::new(
                        RejectReason::BadValue,
                        format!("{what} value must be a finite number from 0 to 1e12"),
                    ))
                }
                None => return Err(Reject::new(RejectReason::MissingField, format!("{what} event needs value"))),
            }
            let cur = require("currency", kind, &ev.currency)?;
            if cur.len() != 3 || !cur.bytes().all(|c| c.is_ascii_alphabetic()) {
                return Err(Reject::new(RejectReason::BadValue, "currency must be a 3-letter ISO 4217 code"));
            }
        }
        EventType::SubscriptionCancel => {
            require("order_id", kind, &ev.order_id)?;
        }
        EventType::OutboundClick => {
            require("target", kind, &ev.target)?;
        }
        EventType::EmailClick => {
            let c = require("click_id", kind, &ev.click_id)?;
            if !is_token_id(c) {
                return Err(Reject::new(RejectReason::BadValue, "click_id has characters outside [A-Za-z0-9_.-]"));
            }
        }
        EventType::Identify | EventType::Lead => {
            if ev.email.as_deref().unwrap_or("").is_empty() && ev.lead_id.as_deref().unwrap_or("").is_empty() {
                let what = kind.as_str();
                return Err(Reject::new(RejectReason::MissingField, format!("{what} event needs email or lead_id")));
            }
            if let Some(e) = ev.email.as_deref() {
                if !e.is_empty() && !e.contains('@') {
                    return Err(Reject::new(RejectReason::BadValue, "identify email has no @"));
                }
            }
        }
        EventType::Custom => {
            require("name", kind, &ev.name)?;
        }
        EventType::PageView => {}
    }

    let (ts_ms, ts_clamped) = match sender {
        Sender::Browser => clamp_ts(ev.ts, now_ms),
        // A server reports orders of the past too (a refund names its charge's time).
        Sender::Server => match ev.ts {
            None => (now_ms, true),
            Some(t) => {
                let kept = t.clamp(now_ms - MAX_SERVER_PAST_MS, now_ms + MAX_FUTURE_MS);
                (kept, kept != t)
            }
        },
    };
    Ok(ValidEvent { id, kind, ts_ms, ts_clamped, raw: ev })
}

/// Clamps a client timestamp into `[now - MAX_PAST_MS, now + MAX_FUTURE_MS]`;
/// a missing timestamp becomes `now`. Returns whether it changed.
pub fn clamp_ts(ts: Option<i64>, now_ms: i64) -> (i64, bool) {
    match ts {
        None => (now_ms, true),
        Some(t) if t < now_ms - MAX_PAST_MS => (now_ms - MAX_PAST_MS, true),
        Some(t) if t > now_ms + MAX_FUTURE_MS => (now_ms + MAX_FUTURE_MS, true),
        Some(t) => (t, false),
    }
}

/// `s` cut to at most `max` bytes on a character boundary (for messages
/// that quote client input).
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Utm;
    use proptest::prelude::*;

    const NOW: i64 = 1_750_000_000_000;
    const ID: &str = "0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a";

    fn ev(kind: &str) -> RawEvent {
        RawEvent {
            id: ID.into(),
            kind: kind.into(),
            ts: Some(NOW),
            url: Some("https://shop.example/".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_page_view_passes() {
        let v = validate_event(ev("page_view"), NOW).unwrap();
        assert_eq!(v.kind, EventType::PageView);
        assert_eq!(v.ts_ms, NOW);
        assert!(!v.ts_clamped);
    }

    #[test]
    fn orders_and_leads_come_only_from_the_server() {
        let order = |kind: &str, value: Option<f64>| RawEvent {
            order_id: Some("o-1".into()),
            value,
            currency: Some("EUR".into()),
            url: None,
            ..ev(kind)
        };
        for kind in ["refund", "subscription_cancel", "lead"] {
            let e = validate_event(ev(kind), NOW).unwrap_err();
            assert_eq!(e.reason, RejectReason::ServerOnly, "{kind} from a browser");
        }
        assert_eq!(validate_from(Sender::Server, ev("page_view"), NOW).unwrap_err().reason, RejectReason::UnknownType);
        // No page needed from a server; a refund is an amount above 0.
        assert!(validate_from(Sender::Server, order("purchase", Some(49.0)), NOW).is_ok());
        assert_eq!(validate_event(order("purchase", Some(49.0)), NOW).unwrap_err().reason, RejectReason::MissingField);
        assert!(validate_from(Sender::Server, order("refund", Some(10.5)), NOW).is_ok());
        for bad in [Some(0.0), Some(-3.0), Some(f64::NAN)] {
            let e = validate_from(Sender::Server, order("refund", bad), NOW).unwrap_err();
            assert_eq!(e.reason, RejectReason::BadValue, "{bad:?}");
        }
        let e = validate_from(Sender::Server, order("refund", None), NOW).unwrap_err();
        assert_eq!(e.reason, RejectReason::MissingField);
        assert!(validate_from(Sender::Server, order("subscription_cancel", None), NOW).is_ok());
        let no_order = RawEvent { url: None, ..ev("subscription_cancel") };
        assert_eq!(validate_from(Sender::Server, no_order, NOW).unwrap_err().reason, RejectReason::MissingField);
        let lead = RawEvent { lead_id: Some("L-1".into()), url: None, ..ev("lead") };
        assert!(validate_from(Sender::Server, lead, NOW).is_ok());
        assert!(validate_from(Sender::Server, RawEvent { url: None, ..ev("lead") }, NOW).is_err());
    }

    #[test]
    fn unknown_type_and_bad_id_are_named() {
        let e = validate_event(ev("nope"), NOW).unwrap_err();
        assert_eq!(e.reason, RejectReason::UnknownType);
        assert!(e.message.contains("nope"));
        let mut bad = ev("page_view");
        bad.id = "123".into();
        assert_eq!(validate_event(bad, NOW).unwrap_err().reason, RejectReason::BadEventId);
    }

    #[test]
    fn required_fields_per_type() {
        for kind in [
            "scroll",
            "engagement",
            "form_submit",
            "video_start",
            "video_progress",
            "purchase",
            "outbound_click",
            "email_click",
            "identify",
            "custom",
        ] {
            let e = validate_event(ev(kind), NOW).unwrap_err();
            assert_eq!(e.reason, RejectReason::MissingField, "{kind}: {e:?}");
            assert!(e.message.contains(kind), "{kind}: {}", e.message);
        }
        let mut no_url = ev("page_view");
        no_url.url = None;
        assert_eq!(validate_event(no_url, NOW).unwrap_err().reason, RejectReason::MissingField);
    }

    #[test]
    fn values_are_range_checked() {
        let mut s = ev("scroll");
        s.depth = Some(33);
        assert_eq!(validate_event(s, NOW).unwrap_err().reason, RejectReason::BadValue);
        let mut p = ev("purchase");
        p.order_id = Some("A1".into());
        p.value = Some(f64::NAN);
        p.currency = Some("EUR".into());
        assert_eq!(validate_event(p.clone(), NOW).unwrap_err().reason, RejectReason::BadValue);
        p.value = Some(49.5);
        p.currency = Some("E1R".into());
        assert_eq!(validate_event(p.clone(), NOW).unwrap_err().reason, RejectReason::BadValue);
        p.currency = Some("EUR".into());
        assert!(validate_event(p, NOW).is_ok());
    }

    #[test]
    fn sizes_are_limited() {
        let mut e = ev("page_view");
        e.url = Some("x".repeat(MAX_URL_LEN + 1));
        let r = validate_event(e, NOW).unwrap_err();
        assert_eq!(r.reason, RejectReason::TooLong);
        assert!(r.message.contains("url"));
        let mut c = ev("custom");
        c.name = Some("signup".into());
        c.props = Some((0..=MAX_PROPS).map(|i| (i.to_string(), PropValue::Bool(true))).collect());
        assert_eq!(validate_event(c, NOW).unwrap_err().reason, RejectReason::TooManyProps);
    }

    fn batch() -> Batch<()> {
        Batch {
            site: "demo".into(),
            consent: None,
            vid: "v1".into(),
            sid: "s1".into(),
            utm: Some(Utm { source: Some("newsletter".into()), ..Default::default() }),
            ec: None,
            events: vec![()],
        }
    }

    #[test]
    fn batch_level_fields_are_bounded_each_and_together() {
        assert!(validate_batch(&batch()).is_ok());
        let reason = |f: &dyn Fn(&mut Batch<()>)| {
            let mut b = batch();
            f(&mut b);
            validate_batch(&b).err().map(|r| r.reason)
        };
        assert_eq!(reason(&|b| b.events.clear()), Some(RejectReason::MissingField));
        assert_eq!(reason(&|b| b.events = vec![(); MAX_EVENTS_PER_BATCH + 1]), Some(RejectReason::TooManyEvents));
        assert_eq!(reason(&|b| b.vid = "a b".into()), Some(RejectReason::BadValue));
        assert_eq!(reason(&|b| b.ec = Some("x/y".into())), Some(RejectReason::BadValue));
        assert_eq!(reason(&|b| b.consent = Some("t".repeat(MAX_TOKEN_LEN + 1))), Some(RejectReason::TooLong));
        let long = "t".repeat(MAX_CAMPAIGN_LEN + 1);
        assert_eq!(reason(&|b| b.utm.as_mut().unwrap().term = Some(long.clone())), Some(RejectReason::TooLong));
        assert_eq!(reason(&|b| b.utm.as_mut().unwrap().gclid = Some("a\nb".into())), Some(RejectReason::BadValue));
        let each = "c".repeat(MAX_CAMPAIGN_LEN);
        let all = |b: &mut Batch<()>| {
            let u = b.utm.as_mut().unwrap();
            for v in [&mut u.source, &mut u.medium, &mut u.campaign, &mut u.term, &mut u.content] {
                *v = Some(each.clone());
            }
        };
        assert_eq!(reason(&all), Some(RejectReason::TooLong), "the sum is bounded too");
    }

    #[test]
    fn stored_bytes_are_a_small_multiple_of_the_body() {
        assert!(check_amplification(max_stored_bytes(1000), 1000).is_ok());
        let r = check_amplification(max_stored_bytes(1000) + 1, 1000).unwrap_err();
        assert_eq!(r.reason, RejectReason::Amplification);
    }

    #[test]
    fn timestamps_are_clamped_to_the_window() {
        assert_eq!(clamp_ts(None, NOW), (NOW, true));
        assert_eq!(clamp_ts(Some(0), NOW), (NOW - MAX_PAST_MS, true));
        assert_eq!(clamp_ts(Some(NOW + MAX_FUTURE_MS + 1), NOW), (NOW + MAX_FUTURE_MS, true));
        assert_eq!(clamp_ts(Some(NOW - 1000), NOW), (NOW - 1000, false));
    }

    #[test]
    fn every_type_name_round_trips() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }

    proptest! {
        #[test]
        fn uuid_parse_round_trips(bytes in proptest::array::uniform16(any::<u8>())) {
            let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let s = format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]);
            prop_assert_eq!(parse_uuid(&s), Some(bytes));
            prop_assert_eq!(parse_uuid(&s.to_uppercase()), Some(bytes));
        }

        #[test]
        fn uuid_parse_never_panics(s in ".{0,40}") {
            let _ = parse_uuid(&s);
        }

        #[test]
        fn clamped_ts_is_always_in_window(ts in any::<Option<i64>>()) {
            let (t, _) = clamp_ts(ts, NOW);
            prop_assert!((NOW - MAX_PAST_MS..=NOW + MAX_FUTURE_MS).contains(&t));
        }
    }
}
