//! The workload: event batches as the pixel sends them, with realistic sizes
//! (about 400 bytes per event: a product URL with path and query, a search
//! referrer, a title, the session's UTM object at batch level), a browser's
//! user agent and a consent token signed with the collector's secret.
//!
//! Every event gets a fresh UUID (the events table folds duplicate ids, so
//! reused ids would make the arrival count lie), and the visitor id starts
//! with a phase tag, so that each phase's events can be counted in
//! ClickHouse.
use ktra_collector::consent::token::{Claims, TokenKey};

/// The site id used by every benchmark.
pub const SITE: &str = "shop";
/// The page origin the collector is configured to allow.
pub const ORIGIN: &str = "https://shop.example";
/// A current desktop Chrome user agent (not a bot).
pub const USER_AGENT: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
/// The benchmark collector's secret (loopback only, throw-away).
pub const SECRET: &str = "bench-secret-not-for-production-0123456789abcdef";

const URL: &str = "https://shop.example/products/trail-running-shoes-x2?color=blue&size=42&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale";
const REFERRER: &str = "https://www.google.com/search?q=waterproof+trail+running+shoes&hl=en";
const TITLE: &str = "Trail Running Shoes X2 \u{2013} Blue, Waterproof | Example Shop";

/// The event mix, each after `"id":"<uuid>","ts":<ms>,` — what a product
/// page produces: a view, scroll marks, engagement, an add-to-cart, a purchase.
fn event_tails() -> [String; 6] {
    let page = format!(r#""url":"{URL}","referrer":"{REFERRER}","title":"{TITLE}""#);
    [
        format!(r#""type":"page_view",{page}"#),
        format!(r#""type":"scroll","depth":50,{page}"#),
        format!(r#""type":"engagement","engaged_ms":12840,{page}"#),
        format!(r#""type":"scroll","depth":90,{page}"#),
        format!(
            r#""type":"custom","name":"add_to_cart","props":{{"product_id":"sku-10492","price":129.9,"in_stock":true}},{page}"#
        ),
        format!(
            r#""type":"purchase","order_id":"ord-7719302","value":129.9,"currency":"EUR","product_id":"sku-10492","product_name":"Trail Running Shoes X2",{page}"#
        ),
    ]
}

/// A consent token granting analytics and marketing for `site`, valid for a week.
pub fn consent_token(secret: &str, site: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = Claims {
        version: 1,
        consent_id: format!("bench-{:016x}", rand::random::<u64>()),
        site: site.to_string(),
        purposes: vec!["analytics".into(), "marketing".into()],
        revision: 1,
        expires: now + 7 * 86_400,
        root: String::new(),
        model: String::new(),
        implied: false,
    };
    TokenKey::derive(secret.as_bytes(), "consent").sign(&claims)
}

/// Makes request bodies for one connection (one visitor and session).
pub struct BodyMaker {
    head: String,
    tails: [String; 6],
    per_request: usize,
    run: u64,
    counter: u64,
    next_kind: usize,
}

impl BodyMaker {
    /// Bodies of `per_request` events for visitor `<tag>.<conn>`.
    pub fn new(token: &str, site: &str, tag: &str, conn: usize, per_request: usize) -> Self {
        let run = rand::random::<u64>();
        let head = format!(
            r#"{{"site":"{site}","consent":"{token}","vid":"{tag}.{conn}.{:08x}","sid":"s{:012x}","utm":{{"source":"newsletter","medium":"email","campaign":"spring_sale"}},"events":["#,
            run as u32,
            run >> 16
        );
        Self { head, tails: event_tails(), per_request: per_request.max(1), run, counter: 0, next_kind: 0 }
    }

    /// Events per body.
    pub fn per_request(&self) -> usize {
        self.per_request
    }

    /// Writes the next body into `out` (cleared first).
    pub fn next_body(&mut self, out: &mut Vec<u8>) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        out.clear();
        out.extend_from_slice(self.head.as_bytes());
        for i in 0..self.per_request {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"id":""#);
            self.write_uuid(out);
            out.extend_from_slice(br#"","ts":"#);
            out.extend_from_slice(ts.to_string().as_bytes());
            out.push(b',');
            // Single-event posts are mostly page views and beacons; cycle the mix.
            out.extend_from_slice(self.tails[self.next_kind].as_bytes());
            self.next_kind = (self.next_kind + 1) % self.tails.len();
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }

    /// A UUID (version 4 layout) unique per (connection run, counter).
    fn write_uuid(&mut self, out: &mut Vec<u8>) {
        let c = self.counter;
        self.counter += 1;
        let r = self.run;
        let s = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (r >> 32) as u32,
            (r >> 16) & 0xffff,
            r & 0xfff,
            0x8000 | ((c >> 48) & 0x3fff),
            c & 0xffff_ffff_ffff
        );
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ktra_schema::{validate_event, Batch, RawEvent};
    use serde_json::value::RawValue;

    #[test]
    fn bodies_are_valid_batches_of_about_400_bytes_per_event_with_unique_ids() {
        let token = consent_token(SECRET, SITE);
        let mut m = BodyMaker::new(&token, SITE, "p01", 3, 20);
        let mut body = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..3 {
            m.next_body(&mut body);
            let batch: Batch<Box<RawValue>> = serde_json::from_slice(&body).unwrap();
            assert_eq!(batch.events.len(), 20);
            assert!(batch.vid.starts_with("p01.3."));
            for raw in &batch.events {
                let len = raw.get().len();
                assert!((330..=520).contains(&len), "event is {len} bytes: {}", raw.get());
                let ev: RawEvent = serde_json::from_str(raw.get()).unwrap();
                let v = validate_event(ev, 1_900_000_000_000).map_err(|r| r.message).unwrap();
                assert!(ids.insert(v.id));
            }
        }
        let key = TokenKey::derive(SECRET.as_bytes(), "consent");
        assert_eq!(key.verify(&token).unwrap().site, SITE);
    }
}
