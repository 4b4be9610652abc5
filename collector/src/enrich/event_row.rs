//! Assembles the stored row from a validated event and what is known about
//! its request (site, visitor, session, consent, campaign, geo, user agent).
use super::channel::{channel, ChannelInput};
use super::request_urls::RequestUrls;
use super::urlparts::{strip_with, Stripped};
use super::{Geo, UaInfo};
use ktra_schema::row::EventRow;
use ktra_schema::wire::{PropValue, Utm};
use ktra_schema::{EventType, Sender, ValidEvent};
use sha2::{Digest, Sha256};

/// What is the same for every event of one request.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Site id.
    pub site_id: String,
    /// Visitor id.
    pub visitor_id: String,
    /// Session id.
    pub session_id: String,
    /// Consent id from the verified token.
    pub consent_id: String,
    /// The first consent id of the token's chain.
    pub consent_root: String,
    /// The session's campaign (batch `utm`).
    pub utm: Utm,
    /// The session's email click id (batch `ec`).
    pub email_click_id: String,
    /// GeoIP of the client address.
    pub geo: Geo,
    /// Parsed user agent.
    pub ua: UaInfo,
    /// Receive time, Unix seconds.
    pub received_at: u32,
    /// Who reported the events (`events.source`).
    pub source: Sender,
}

/// `sha256:<hex>` of a trimmed, lowercased email address: a lead key the
/// site owner can match against their list without ktra storing the address.
pub fn email_lead_id(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Builds the rows of one request's events. What an event takes from its
/// page URL and referrer is worked out once per distinct URL of the request
/// ([`RequestUrls`]), and the event's own strings move into its row.
pub struct RowBuilder<'a> {
    ctx: &'a RequestContext,
    urls: RequestUrls<'a>,
}

impl<'a> RowBuilder<'a> {
    /// Rows of `ctx`'s request; page URLs, referrers and link targets lose
    /// the query parameters `strip` names (`strip_query_params`).
    pub fn new(ctx: &'a RequestContext, strip: &'a [String]) -> Self {
        Self { ctx, urls: RequestUrls::new(strip) }
    }

    /// Builds the row for one event.
    pub fn build_row(&mut self, ev: ValidEvent) -> EventRow {
        let ctx = self.ctx;
        let mut raw = ev.raw;
        let url_sent = raw.url.take().unwrap_or_default();
        let referrer_sent = raw.referrer.take().unwrap_or_default();
        let link_url = match raw.target.take() {
            Some(t) => match strip_with(&t, self.urls.deny()) {
                Stripped::Changed(s) => s,
                Stripped::Unchanged(_) | Stripped::NotUrl => t,
            },
            None => String::new(),
        };
        // One parse of the page URL for host, path and every campaign parameter, once per request.
        let (page, referrer_parts) = self.urls.parts(&url_sent, &referrer_sent);
        let url = page.stripped.clone().unwrap_or(url_sent);
        let referrer = referrer_parts.stripped.clone().unwrap_or(referrer_sent);

        // Campaign: the batch's session campaign, else the event URL's own parameters.
        let pick = |batch: &Option<String>, name: &str| match batch {
            Some(v) if !v.is_empty() => v.clone(),
            _ => page.page.param(name).to_string(),
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

        let email_click_id = match (ev.kind, raw.click_id.take()) {
            (EventType::EmailClick, Some(c)) => c,
            _ => ctx.email_click_id.clone(),
        };
        // A server's report is about an order or a lead, not a visit: no channel of its own.
        let channel = if ctx.source == Sender::Server {
            String::new()
        } else {
            channel(ChannelInput {
                referrer_host: &referrer_parts.host,
                page_host: &page.bare_host,
                utm_source: &utm_source,
                utm_medium: &utm_medium,
                has_click_id: !click_id.is_empty(),
                from_email: !email_click_id.is_empty(),
            })
            .to_string()
        };

        let lead_id = match (raw.lead_id.take(), &raw.email) {
            (Some(l), _) if !l.is_empty() => l,
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
            host: page.page.host.clone(),
            path: page.page.path.clone(),
            title: raw.title.unwrap_or_default(),
            referrer,
            referrer_host: referrer_parts.host.clone(),
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
            form_id: raw.form_id.unwrap_or_default(),
            form_action: raw.form_action.unwrap_or_default(),
            form_fields: raw.fields.unwrap_or_default(),
            video_id: raw.video_id.unwrap_or_default(),
            video_percent: raw.percent.unwrap_or(0),
            order_id: raw.order_id.unwrap_or_default(),
            // Refunds are negative revenue: every sum of `revenue` is net.
            revenue: match ev.kind {
                EventType::Refund => -raw.value.unwrap_or(0.0),
                _ => raw.value.unwrap_or(0.0),
            },
            currency: raw.currency.map(|c| c.to_ascii_uppercase()).unwrap_or_default(),
            product_id: raw.product_id.unwrap_or_default(),
            product_name: raw.product_name.unwrap_or_default(),
            link_url,
            email_click_id,
            lead_id,
            event_name: raw.name.unwrap_or_default(),
            props_key,
            props_value,
            source: ctx.source.as_str().to_string(),
        }
    }
}

/// Builds the row for one event, its URLs as sent (nothing stripped). For
/// the events of a request, [`RowBuilder`] shares the URL work between them.
pub fn build_row(ctx: &RequestContext, ev: ValidEvent) -> EventRow {
    RowBuilder::new(ctx, &[]).build_row(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktra_schema::{validate_event, RawEvent};

    fn ctx() -> RequestContext {
        RequestContext {
            site_id: "demo".into(),
            visitor_id: "v1".into(),
            session_id: "s1".into(),
            utm: Utm { source: Some("newsletter".into()), medium: Some("email".into()), ..Default::default() },
            received_at: 1_750_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn page_view_row_has_parts_campaign_and_channel() {
        let raw = RawEvent {
            id: "0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a".into(),
            kind: "page_view".into(),
            ts: Some(1_750_000_000_500),
            url: Some("https://www.shop.example/p/1?utm_campaign=spring&gclid=abc".into()),
            referrer: Some("https://www.google.com/".into()),
            ..Default::default()
        };
        let row = build_row(&ctx(), validate_event(raw, 1_750_000_000_000).unwrap());
        assert_eq!(row.host, "www.shop.example");
        assert_eq!(row.path, "/p/1");
        assert_eq!(row.utm_source, "newsletter");
        assert_eq!(row.utm_campaign, "spring");
        assert_eq!((row.click_id_type.as_str(), row.click_id.as_str()), ("gclid", "abc"));
        assert_eq!(row.channel, "paid");
        assert_eq!(row.referrer_host, "google.com");
        assert_eq!(row.ts, 1_750_000_000);
    }

    #[test]
    fn identify_by_email_stores_only_a_hash() {
        let raw = RawEvent {
            id: "0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a".into(),
            kind: "identify".into(),
            url: Some("https://shop.example/".into()),
            email: Some(" Ada@Example.com ".into()),
            ..Default::default()
        };
        let row = build_row(&ctx(), validate_event(raw, 1_750_000_000_000).unwrap());
        assert_eq!(row.lead_id, email_lead_id("ada@example.com"));
        assert!(row.lead_id.starts_with("sha256:") && row.lead_id.len() == 71);
        assert!(!format!("{row:?}").to_lowercase().contains("ada@example.com"));
    }
}
