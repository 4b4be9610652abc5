//! Rows built per request ([`RowBuilder`]: URL parts once per distinct URL,
//! the event's strings moved, the channel without allocations) are the rows
//! the per-event path built before it, field for field, on hand-picked
//! hostile inputs and on generated ones. [`before`] is that path, kept
//! verbatim as the reference.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]
use super::event_row::{RequestContext, RowBuilder};
use super::{Geo, UaInfo};
use ktra_schema::row::EventRow;
use ktra_schema::wire::{PropValue, Utm};
use ktra_schema::{EventType, RawEvent, Sender, ValidEvent};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The per-event path before per-request URL work: each URL stripped on its
/// own, the page URL and the referrer parsed again for every event.
mod before {
    use crate::enrich::channel::ChannelInput;
    use crate::enrich::event_row::{email_lead_id, RequestContext};
    use crate::enrich::urlparts::{PageUrl, CAMPAIGN_PARAMS};
    use ktra_schema::row::EventRow;
    use ktra_schema::wire::PropValue;
    use ktra_schema::{EventType, Sender, ValidEvent};
    use url::Url;

    pub fn strip_params(raw: &str, deny: &[String]) -> String {
        let denied = |k: &str| {
            deny.iter().any(|d| match d.strip_suffix('*') {
                // The one change: bytes, not `k[..prefix.len()]`, which panicked
                // inside a character (`urlparts`' test of it).
                Some(prefix) => {
                    k.as_bytes().get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes()))
                }
                None => k.eq_ignore_ascii_case(d),
            })
        };
        let Ok(mut u) = Url::parse(raw) else { return raw.to_string() };
        let Some(q) = u.query() else { return raw.to_string() };
        if !u.query_pairs().any(|(k, _)| denied(&k)) {
            return raw.to_string();
        }
        let kept: Vec<&str> = q
            .split('&')
            .filter(|p| {
                let key = p.split('=').next().unwrap_or("");
                let key =
                    url::form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default();
                !p.is_empty() && !denied(&key)
            })
            .collect();
        let kept = kept.join("&");
        u.set_query(if kept.is_empty() { None } else { Some(&kept) });
        u.to_string()
    }

    fn page_url(raw: &str) -> PageUrl {
        let Ok(u) = Url::parse(raw) else { return PageUrl::default() };
        let mut params = Vec::new();
        if u.query().is_some() {
            for (k, v) in u.query_pairs() {
                if let Some((name, _)) = CAMPAIGN_PARAMS.iter().find(|(n, _)| *n == k) {
                    if !v.is_empty() && !params.iter().any(|(p, _)| p == name) {
                        params.push((*name, v.into_owned()));
                    }
                }
            }
        }
        PageUrl { host: u.host_str().unwrap_or("").to_ascii_lowercase(), path: u.path().to_string(), params }
    }

    fn host_and_path(raw: &str) -> (String, String) {
        match Url::parse(raw) {
            Ok(u) => (u.host_str().unwrap_or("").to_ascii_lowercase(), u.path().to_string()),
            Err(_) => (String::new(), String::new()),
        }
    }

    fn bare_host(raw: &str) -> String {
        let (h, _) = host_and_path(raw);
        h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
    }

    // The lists are the product's (one definition); the matching below is the old code.
    use crate::enrich::channel::{PAID_MEDIUMS, SEARCH, SOCIAL, WEBMAIL};

    fn matches(host: &str, list: &[&str]) -> bool {
        list.iter().any(|p| {
            if p.ends_with('.') {
                host.starts_with(p) || host.contains(&format!(".{p}"))
            } else {
                host == *p || host.ends_with(&format!(".{p}"))
            }
        })
    }

    pub fn channel(i: ChannelInput<'_>) -> &'static str {
        let medium = i.utm_medium.to_ascii_lowercase();
        let source = i.utm_source.to_ascii_lowercase();
        if i.has_click_id || PAID_MEDIUMS.contains(&medium.as_str()) {
            return "paid";
        }
        if i.from_email || medium == "email" || medium == "e-mail" || source.contains("newsletter") || source == "email"
        {
            return "email";
        }
        if medium == "social" || medium == "social-network" || medium == "sm" {
            return "social";
        }
        if medium == "organic" {
            return "search";
        }
        let r = i.referrer_host;
        if r.is_empty() {
            return if source.is_empty() { "direct" } else { "referral" };
        }
        if r == i.page_host {
            return "internal";
        }
        if matches(r, WEBMAIL) {
            return "email";
        }
        if matches(r, SEARCH) {
            return "search";
        }
        if matches(r, SOCIAL) {
            return "social";
        }
        "referral"
    }

    fn s(v: &Option<String>) -> String {
        v.clone().unwrap_or_default()
    }

    /// What `build_rows` did per event: strip, then build the row.
    pub fn row(ctx: &RequestContext, mut ev: ValidEvent, deny: &[String]) -> EventRow {
        for field in [&mut ev.raw.url, &mut ev.raw.referrer, &mut ev.raw.target] {
            if let Some(v) = field.as_mut() {
                *v = strip_params(v, deny);
            }
        }
        build_row(ctx, ev)
    }

    pub fn build_row(ctx: &RequestContext, ev: ValidEvent) -> EventRow {
        let raw = ev.raw;
        let url = s(&raw.url);
        let page = page_url(&url);
        let (host, path) = (page.host.clone(), page.path.clone());
        let referrer = s(&raw.referrer);
        let referrer_host = if referrer.is_empty() { String::new() } else { bare_host(&referrer) };
        let pick = |batch: &Option<String>, name: &str| match batch {
            Some(v) if !v.is_empty() => v.clone(),
            _ => page.param(name).to_string(),
        };
        let utm_source = pick(&ctx.utm.source, "utm_source");
        let utm_medium = pick(&ctx.utm.medium, "utm_medium");
        let utm_campaign = pick(&ctx.utm.campaign, "utm_campaign");
        let utm_term = pick(&ctx.utm.term, "utm_term");
        let utm_content = pick(&ctx.utm.content, "utm_content");
        let (click_id_type, click_id) =
            [("gclid", &ctx.utm.gclid), ("msclkid", &ctx.utm.msclkid), ("fbclid", &ctx.utm.fbclid)]
                .into_iter()
                .find_map(|(k, v)| {
                    let v = pick(v, k);
                    (!v.is_empty()).then(|| (k.to_string(), v))
                })
                .unwrap_or_default();
        let email_click_id = match (ev.kind, &raw.click_id) {
            (EventType::EmailClick, Some(c)) => c.clone(),
            _ => ctx.email_click_id.clone(),
        };
        let page_host = host.strip_prefix("www.").unwrap_or(&host).to_string();
        let channel = channel(ChannelInput {
            referrer_host: &referrer_host,
            page_host: &page_host,
            utm_source: &utm_source,
            utm_medium: &utm_medium,
            has_click_id: !click_id.is_empty(),
            from_email: !email_click_id.is_empty(),
        })
        .to_string();
        let channel = if ctx.source == Sender::Server { String::new() } else { channel };
        let lead_id = match (&raw.lead_id, &raw.email) {
            (Some(l), _) if !l.is_empty() => l.clone(),
            (_, Some(e)) if !e.is_empty() => email_lead_id(e),
            _ => String::new(),
        };
        let (props_key, props_value): (Vec<String>, Vec<String>) = raw
            .props
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    PropValue::Str(s) => s,
                    PropValue::Num(n) => n.to_string(),
                    PropValue::Bool(b) => b.to_string(),
                };
                (k, v)
            })
            .unzip();
        EventRow {
            site_id: ctx.site_id.clone(),
            event_id: uuid::Uuid::from_bytes(ev.id),
            event_type: ev.kind.as_str().to_string(),
            ts: u32::try_from(ev.ts_ms.div_euclid(1000)).unwrap_or(ctx.received_at),
            ts_ms: u64::try_from(ev.ts_ms).unwrap_or(0),
            received_at: ctx.received_at,
            visitor_id: ctx.visitor_id.clone(),
            session_id: ctx.session_id.clone(),
            consent_id: ctx.consent_id.clone(),
            consent_root: ctx.consent_root.clone(),
            url,
            host,
            path,
            title: s(&raw.title),
            referrer,
            referrer_host,
            channel,
            utm_source,
            utm_medium,
            utm_campaign,
            utm_term,
            utm_content,
            click_id_type,
            click_id,
            country: ctx.geo.country.clone(),
            region: ctx.geo.region.clone(),
            city: ctx.geo.city.clone(),
            browser: ctx.ua.browser.clone(),
            os: ctx.ua.os.clone(),
            device: ctx.ua.device.clone(),
            is_bot: u8::from(ctx.ua.is_bot),
            scroll_depth: raw.depth.unwrap_or(0),
            engaged_ms: u32::try_from(raw.engaged_ms.unwrap_or(0)).unwrap_or(u32::MAX),
            form_id: s(&raw.form_id),
            form_action: s(&raw.form_action),
            form_fields: raw.fields.unwrap_or_default(),
            video_id: s(&raw.video_id),
            video_percent: raw.percent.unwrap_or(0),
            order_id: s(&raw.order_id),
            revenue: match ev.kind {
                EventType::Refund => -raw.value.unwrap_or(0.0),
                _ => raw.value.unwrap_or(0.0),
            },
            currency: raw.currency.map(|c| c.to_ascii_uppercase()).unwrap_or_default(),
            product_id: s(&raw.product_id),
            product_name: s(&raw.product_name),
            link_url: s(&raw.target),
            email_click_id,
            lead_id,
            event_name: s(&raw.name),
            props_key,
            props_value,
            source: ctx.source.as_str().to_string(),
        }
    }
}

/// Page URLs, referrers and link targets a hostile or careless client may send.
const URLS: &[&str] = &[
    "",
    "https://shop.example/products/trail-running-shoes-x2?color=blue&size=42&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale",
    "https://www.google.com/search?q=waterproof+trail+running+shoes&hl=en",
    "https://WWW.Shop.Example:443/A/./b/../c?utm_source=News&utm_source=second&gclid=g1&token=secret#frag",
    "https://shop.example/?utm_medium=cpc&utm_source=google&msclkid=m&fbclid=f",
    "https://shop.example/?utm_medium=&gclid=&fbclid=fb1&Token=x&AUTH_code=1&authorization=2",
    "https://shop.example/checkout?password=hunter2&email=a%40b.c&key=1&q=a%20b&&=x&utm_term=%E2%9C%93",
    "https://shop.example/?utm_content=a+b&utm_campaign=%zz&utm_source=%F0%9F%98%80",
    "http://user:pass@xn--mnchen-3ya.de/p?x=1",
    "https://münchen.de/straße?utm_source=ä",
    "https://[::1]:8080/path?token=1",
    "https://192.168.0.1/x?utm_medium=social",
    "https://0x7f.1/?a=b",
    "https://exa mple.com/?token=1",
    "https://example.com/a\tb\nc?to\tken=1",
    "  https://shop.example/padded?token=1  ",
    "https://shop.example/%2e%2e/%2E/x?utm_source=dot",
    "https://shop.example?only=query&token=t",
    "https://shop.example#frag?token=not-a-query",
    "https://shop.example/?token",
    "https://shop.example/?=&&&token=&utm_source==x",
    "https://shop.example/?ke%79=encoded-key&utm_%73ource=enc",
    "https://mail.google.com/mail/u/0/?token=1",
    "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example",
    "https://news.ycombinator.com/item?id=1",
    "https://www.bing.com/search?q=x",
    "https://search.brave.com/search?q=x",
    "https://webmail.provider.example/",
    "https://notgoogle.com/?q=1",
    "https://www.google.co.uk/url?sa=t",
    "https://sub.x.com/path",
    "https://t.co/abc",
    "HTTPS://SHOP.EXAMPLE/UPPER?UTM_SOURCE=upper&utm_source=lower",
    "shop.example/no-scheme?token=1",
    "/relative/path?token=1",
    "javascript:alert(1)?token=1",
    "data:text/html,<script>?token=1",
    "mailto:a@b.c?subject=x&token=1",
    "file:///etc/passwd?token=1",
    "ws://shop.example/socket?token=1",
    "custom+scheme://host/p?x=1&password=2",
    "not a url?token=1",
    "?",
    "https://",
    "https://?token=1",
    "https://shop.example/\u{0}\u{1f}?token=\u{7f}",
    "https://shop.example/<script>alert(1)</script>?q=\"'<>",
    "https://shop.example/?utm_source=newsletter&utm_medium=Email",
    "https://shop.example/?utm_medium=PAID_SOCIAL",
    "https://shop.example/?utm_medium=organic&utm_source=Bing",
    "https://shop.example/?utm_source=The%20NewsLetter%20Weekly",
    "https://shop.example/?utm_medium=social-network",
    "https://shop.example/?ktra_ec=ec1&utm_source=email",
    "https://shop.example/?aux\u{e4}=1&rese\u{e4}=2&auth\u{e4}=3&p\u{e4}ss=4",
];

fn ctx(n: usize) -> RequestContext {
    let utm = match n % 4 {
        0 => Utm::default(),
        1 => Utm { source: Some("newsletter".into()), medium: Some("email".into()), ..Default::default() },
        2 => Utm {
            source: Some(String::new()),
            medium: Some("cpc".into()),
            gclid: Some(String::new()),
            fbclid: Some("fb-batch".into()),
            ..Default::default()
        },
        _ => Utm {
            term: Some("t".into()),
            content: Some("c".into()),
            campaign: Some("spring".into()),
            ..Default::default()
        },
    };
    RequestContext {
        site_id: "demo".into(),
        visitor_id: format!("v{n}"),
        session_id: "s1".into(),
        consent_id: "c1".into(),
        consent_root: "r1".into(),
        utm,
        email_click_id: if n % 5 == 4 { "ec-batch".into() } else { String::new() },
        geo: Geo { country: "DE".into(), region: "BE".into(), city: "Berlin".into() },
        ua: UaInfo { browser: "Chrome".into(), os: "Mac OSX".into(), device: "desktop".into(), is_bot: n % 3 == 2 },
        received_at: 1_750_000_000,
        source: if n % 6 == 5 { Sender::Server } else { Sender::Browser },
    }
}

fn deny_lists() -> Vec<Vec<String>> {
    let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        crate::config::DEFAULT_STRIP_PARAMS.iter().map(|s| s.to_string()).collect(),
        Vec::new(),
        l(&["utm_*", "gclid", "TOKEN"]),
        l(&["*"]),
        l(&[""]),
        l(&["\u{e4}*", "Key", "a**", "UTM_SOURCE", "q"]),
    ]
}

/// An event of `kind` with every field a type may carry.
fn event(i: usize, kind: EventType, url: Option<&str>, referrer: Option<&str>, target: Option<&str>) -> ValidEvent {
    let opt = |v: &str, on: bool| on.then(|| v.to_string());
    let mut props = BTreeMap::new();
    props.insert("k".to_string(), PropValue::Str("v".into()));
    props.insert("n".to_string(), PropValue::Num(if i % 2 == 0 { 129.9 } else { -0.0 }));
    props.insert("b".to_string(), PropValue::Bool(i % 3 == 0));
    let raw = RawEvent {
        id: String::new(),
        kind: kind.as_str().into(),
        ts: None,
        url: url.map(str::to_string),
        referrer: referrer.map(str::to_string),
        title: opt("Trail Running Shoes X2 \u{2013} Blue", i % 2 == 0),
        depth: (i % 3 == 0).then_some(50),
        engaged_ms: (i % 4 == 0).then_some(u64::MAX),
        form_id: opt("signup", i % 5 == 0),
        form_action: opt("https://shop.example/submit?token=1", i % 5 == 0),
        fields: (i % 5 == 0).then(|| vec!["name".into(), "email".into()]),
        video_id: opt("intro.mp4", i % 6 == 0),
        percent: (i % 6 == 0).then_some(75),
        order_id: opt("ord-1", i % 7 == 0),
        value: (i % 7 == 0).then_some(49.5),
        currency: opt("eur", i % 7 == 0),
        product_id: opt("sku-1", i % 7 == 0),
        product_name: opt("Shoes", i % 7 == 0),
        target: target.map(str::to_string),
        click_id: opt(if i % 2 == 0 { "ec-event" } else { "" }, i % 3 != 2),
        email: opt(if i % 4 == 0 { " Ada@Example.com " } else { "" }, i % 2 == 0),
        lead_id: opt(if i % 3 == 0 { "crm-1" } else { "" }, i % 5 != 0),
        name: opt("add_to_cart", i % 2 == 1),
        props: (i % 3 != 1).then_some(props),
    };
    let id = u128::try_from(i).unwrap().wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes();
    ValidEvent { id, kind, ts_ms: 1_750_000_000_500 + i64::try_from(i).unwrap() * 1001 - 5000, ts_clamped: false, raw }
}

/// Builds `events` as one request and per event the old way; compares every field.
fn assert_same(ctx: &RequestContext, deny: &[String], events: Vec<ValidEvent>) {
    let mut builder = RowBuilder::new(ctx, deny);
    for (n, ev) in events.into_iter().enumerate() {
        let old: EventRow = before::row(ctx, ev.clone(), deny);
        let new = builder.build_row(ev);
        // Bit-equal revenue too (`-0.0` and NaN would slip through `==`).
        assert_eq!(new.revenue.to_bits(), old.revenue.to_bits(), "event {n}");
        assert_eq!(new, old, "event {n} (deny {deny:?})");
    }
}

#[test]
fn rows_are_the_per_event_rows_on_hostile_urls() {
    let kinds = EventType::ALL;
    let mut compared = 0;
    for (c, deny) in deny_lists().iter().enumerate() {
        for n in 0..12 {
            let ctx = ctx(n + c);
            // One request holds every URL as page, as referrer and as target, in
            // an order that makes the memo hit, miss and replace entries.
            let mut events = Vec::new();
            for (i, u) in URLS.iter().enumerate() {
                let r = URLS[(i * 7 + n) % URLS.len()];
                let t = URLS[(i * 3 + c) % URLS.len()];
                let kind = kinds[(i + n) % kinds.len()];
                let opt = |v: &'static str, k: usize| if (i + k) % 9 == 0 { None } else { Some(v) };
                events.push(event(i + n, kind, opt(u, 0), opt(r, 4), opt(t, 2)));
                // The batch's usual shape: the same page and referrer again.
                events.push(event(i + n + 1, kinds[(i + n + 1) % kinds.len()], Some(u), Some(r), None));
            }
            compared += events.len();
            assert_same(&ctx, deny, events);
        }
    }
    assert!(compared > 5000, "{compared} rows compared");
}

#[test]
fn the_row_of_one_event_is_the_old_row() {
    let ctx = ctx(1);
    for (i, u) in URLS.iter().enumerate() {
        let ev = event(i, EventType::PageView, Some(u), Some(URLS[(i + 1) % URLS.len()]), Some(u));
        let old = before::build_row(&ctx, ev.clone());
        assert_eq!(super::event_row::build_row(&ctx, ev), old, "{u:?}");
    }
}

/// URL-like text: schemes, hosts, dots, percent signs, campaign and denied
/// parameters, whitespace and controls, in any mix.
fn url_text() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just(""),
        Just("https://"),
        Just("http://"),
        Just("HTTPS://"),
        Just("ftp://"),
        Just("x:"),
        Just("https:"),
        Just("https:///")
    ];
    let host = "[a-zA-Z0-9.%@:\\[\\]_~ \\t-]{0,16}|(www\\.)?(google\\.(com|de)|t\\.co|x\\.com|mail\\.google\\.com|shop\\.example|[a-z]{1,4}\\.[a-z]{2,3})";
    let path = "(/[a-zA-Z0-9.%_~+ \\t\\\\-]{0,8}){0,3}";
    let names = vec![
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "gclid",
        "fbclid",
        "msclkid",
        "token",
        "Auth_x",
        "password",
        "aux\u{e4}",
        "rese\u{e4}",
    ];
    let key = prop_oneof![
        3 => proptest::sample::select(names).prop_map(String::from),
        1 => "[a-zA-Z_%0-9+]{0,6}",
    ];
    let value = prop_oneof![
        Just("cpc".to_string()),
        Just("email".to_string()),
        Just("newsletter".to_string()),
        Just("social".to_string()),
        "[a-zA-Z0-9%+=&# ]{0,6}",
    ];
    let pair = (key, proptest::option::of(value)).prop_map(|(k, v)| match v {
        Some(v) => format!("{k}={v}"),
        None => k,
    });
    let query = proptest::option::of(proptest::collection::vec(pair, 0..5).prop_map(|p| format!("?{}", p.join("&"))));
    let fragment = proptest::option::of("#[a-z?=&]{0,5}");
    prop_oneof![
        4 => (scheme, host, path, query, fragment).prop_map(|(s, h, p, q, f)| format!(
            "{s}{h}{p}{}{}",
            q.unwrap_or_default(),
            f.unwrap_or_default()
        )),
        1 => ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A generated request: a few URLs, each event picking its page URL,
    /// referrer and link target among them (so that they repeat).
    #[test]
    fn rows_are_the_per_event_rows_on_generated_requests(
        urls in proptest::collection::vec(url_text(), 1..12),
        picks in proptest::collection::vec((0usize..64, 0usize..64, 0usize..64, 0usize..15), 1..24),
        c in 0usize..64,
        deny in 0usize..6,
    ) {
        let ctx = ctx(c);
        let deny = &deny_lists()[deny];
        let at = |i: usize| (i < 60).then(|| urls[i % urls.len()].as_str());
        let events = picks
            .iter()
            .enumerate()
            .map(|(i, &(u, r, t, k))| event(i + c, EventType::ALL[k], at(u), at(r), at(t).filter(|_| t % 3 == 0)))
            .collect();
        assert_same(&ctx, deny, events);
    }
}
