//! Decoding a batch of events: in one pass when every event decodes (the
//! batch a pixel sends), else with each event kept as its raw JSON and
//! decoded on its own, so that one bad event does not sink the others.
//!
//! The one pass gives exactly what the per-event decoding gives: the same
//! bytes through the same `Deserialize` impls. Only the nesting differs (an
//! event inside the batch is two levels deeper, nearer serde_json's
//! recursion limit), and that can only make the one pass fail, never
//! succeed differently; any failure falls back to the per-event decoding,
//! whose answers (and refusals) are unchanged.
use ktra_schema::{Batch, RawEvent};
use serde_json::value::RawValue;

/// A batch's events, as [`decode`] found them.
#[derive(Debug)]
pub enum Events<'a> {
    /// Every event decoded with the batch.
    Decoded(Vec<RawEvent>),
    /// Each event's JSON (a slice of the body), to decode on its own.
    Raw(Vec<&'a RawValue>),
}

impl Events<'_> {
    /// How many events the batch holds.
    pub fn len(&self) -> usize {
        match self {
            Events::Decoded(v) => v.len(),
            Events::Raw(v) => v.len(),
        }
    }

    /// The batch holds no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The batch's fields (its `events` only counted: `()` each) and its events.
/// The error is the per-event decoding's: the body is not a batch at all.
pub fn decode(body: &[u8]) -> Result<(Batch<()>, Events<'_>), serde_json::Error> {
    // Checked as UTF-8 once, the body's strings need no check each (`from_str`
    // skips it); a body that is not UTF-8 gets the per-event decoding's answer.
    if let Ok(text) = std::str::from_utf8(body) {
        if let Ok(b) = serde_json::from_str::<Batch<RawEvent>>(text) {
            return Ok(split(b, Events::Decoded));
        }
    }
    let b: Batch<&RawValue> = serde_json::from_slice(body)?;
    Ok(split(b, Events::Raw))
}

fn split<'a, E>(b: Batch<E>, events: impl FnOnce(Vec<E>) -> Events<'a>) -> (Batch<()>, Events<'a>) {
    let fields = Batch {
        site: b.site,
        consent: b.consent,
        vid: b.vid,
        sid: b.sid,
        utm: b.utm,
        ec: b.ec,
        events: vec![(); b.events.len()],
    };
    (fields, events(b.events))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// What the handler did before: the batch with raw events, then each event on its own.
    fn per_event(body: &[u8]) -> Result<(String, Vec<Result<RawEvent, String>>), String> {
        let b: Batch<&RawValue> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let events = b.events.iter().map(|r| serde_json::from_str::<RawEvent>(r.get()).map_err(|e| e.to_string()));
        Ok((b.site.clone(), events.collect()))
    }

    fn one_pass_or_not(body: &[u8]) -> Result<(String, Vec<Result<RawEvent, String>>), String> {
        let (b, events) = decode(body).map_err(|e| e.to_string())?;
        assert_eq!(b.events.len(), events.len());
        let events = match events {
            Events::Decoded(v) => v.into_iter().map(Ok).collect(),
            Events::Raw(v) => {
                v.iter().map(|r| serde_json::from_str::<RawEvent>(r.get()).map_err(|e| e.to_string())).collect()
            }
        };
        Ok((b.site, events))
    }

    fn body(events: &[String]) -> Vec<u8> {
        format!(r#"{{"site":"demo","vid":"v","sid":"s","utm":{{"source":"x"}},"events":[{}]}}"#, events.join(","))
            .into_bytes()
    }

    const GOOD: &str = r#"{"id":"0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a","type":"page_view","url":"https://s.example/\u00e4?a=1","props":{"k":"v","n":1.5,"b":true}}"#;

    #[test]
    fn a_good_batch_is_decoded_in_one_pass_and_a_bad_event_falls_back() {
        let good = body(&[GOOD.to_string(), GOOD.replace("page_view", "scroll")]);
        assert!(matches!(decode(&good).unwrap().1, Events::Decoded(ref v) if v.len() == 2));
        assert_eq!(one_pass_or_not(&good), per_event(&good));

        let bad = body(&[GOOD.to_string(), r#"{"id":"x","type":"scroll","depth":"deep"}"#.into(), "7".into()]);
        assert!(matches!(decode(&bad).unwrap().1, Events::Raw(ref v) if v.len() == 3));
        let (_, events) = one_pass_or_not(&bad).unwrap();
        assert!(events[0].is_ok() && events[1].is_err() && events[2].is_err());
        assert_eq!(one_pass_or_not(&bad), per_event(&bad));

        // Not UTF-8 inside an event's string: the whole batch is refused, as before.
        let not_utf8 = body(&[GOOD.replace("page_view", "page_view\u{e4}"), GOOD.to_string()]);
        let not_utf8: Vec<u8> = not_utf8.iter().map(|&b| if b == 0xa4 { 0xff } else { b }).collect();
        for junk in [
            &b"not json"[..],
            b"{}",
            b"[]",
            br#"{"site":"demo","events":[1,]}"#,
            b"{\"site\":\"\xff\",\"events\":[]}",
            &not_utf8,
        ] {
            assert!(decode(junk).is_err());
            assert_eq!(one_pass_or_not(junk), per_event(junk), "the same refusal");
        }
    }

    #[test]
    fn an_event_near_the_recursion_limit_decodes_on_its_own() {
        // 126 levels deep in `props`: too deep inside the batch, not on its own.
        let deep = format!(r#"{{"id":"i","type":"custom","props":{{"k":{}1{}}}}}"#, "[".repeat(124), "]".repeat(124));
        let b = body(&[deep]);
        assert!(matches!(decode(&b).unwrap().1, Events::Raw(_)), "the one pass hits the limit");
        assert_eq!(one_pass_or_not(&b), per_event(&b));
    }

    /// A JSON value of any kind, some of them what a field expects.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("50".to_string()),
            Just("-1".to_string()),
            Just("1e400".to_string()),
            Just("129.9".to_string()),
            Just(r#""https://s.example/?utm_source=x""#.to_string()),
            Just(r#""\ud800""#.to_string()),
            Just(r#""a\"b\\c\u00e4""#.to_string()),
            Just("[]".to_string()),
            Just(r#"["name","email"]"#.to_string()),
            Just(r#"{"k":"v","n":1,"b":false}"#.to_string()),
            Just(r#"{"k":[1]}"#.to_string()),
            "\"[a-z]{0,8}\"",
        ]
    }

    fn event() -> impl Strategy<Value = String> {
        let fields = proptest::sample::select(vec![
            "id",
            "type",
            "ts",
            "url",
            "referrer",
            "title",
            "depth",
            "engaged_ms",
            "fields",
            "percent",
            "value",
            "currency",
            "target",
            "props",
            "name",
            "extra",
        ]);
        prop_oneof![
            6 => proptest::collection::vec((fields, value()), 0..6).prop_map(|kv| {
                let kv: Vec<String> = kv.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!(r#"{{"id":"0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a","type":"custom",{}}}"#, kv.join(","))
                    .replace(",}", "}")
            }),
            1 => value(),
        ]
    }

    proptest! {
        #[test]
        fn one_pass_gives_what_each_event_on_its_own_gives(events in proptest::collection::vec(event(), 0..6)) {
            let b = body(&events);
            prop_assert_eq!(one_pass_or_not(&b), per_event(&b));
        }
    }
}
