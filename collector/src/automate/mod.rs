//! Behavioural triggers: acting on what an identified, consenting visitor
//! does (a lead visits a page, plays or completes a video, submits a form,
//! buys...), by signed webhooks to the site owner's endpoints.
//!
//! [`Automations::observe`] runs on the ingest path after a batch is
//! accepted: it only matches rows against the site's endpoints and queues
//! deliveries ([`deliver`]), never waiting on a network. A trigger fires only
//! for a visitor tied to a lead (an `identify` event, or an email click of a
//! lead with recorded consent), and the batch's events carried a valid token
//! granting marketing (the collector stores nothing else). `once_per`
//! (`lead`, `session`, `event`) is kept in `webhook-fired.jsonl` beside the
//! spool, so a restart or a replayed batch never fires twice.
pub mod activity;
pub mod config;
pub mod deliver;
pub mod health;
pub mod hooks;

use crate::config::{SiteConfig, TriggerFilter, WebhookEndpoint};
use crate::sink::journal::Journal;
use ktra_schema::row::EventRow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What a site owner can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A lead viewed a page.
    PageVisit,
    /// A lead started a video.
    VideoPlay,
    /// A lead watched a video to the end.
    VideoComplete,
    /// A lead submitted a form.
    FormSubmit,
    /// A lead arrived from a tracked email link.
    LinkClick,
    /// A visitor identified as a lead.
    LeadIdentified,
    /// A purchase (once per order, whoever reported it).
    Purchase,
    /// A refund of an order (server-side).
    Refund,
    /// A subscription ended (server-side).
    SubscriptionCancel,
    /// Engaged time on a page reached the endpoint's `engaged_secs`.
    Engaged,
}

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 10] = [
        Self::PageVisit,
        Self::VideoPlay,
        Self::VideoComplete,
        Self::FormSubmit,
        Self::LinkClick,
        Self::LeadIdentified,
        Self::Purchase,
        Self::Refund,
        Self::SubscriptionCancel,
        Self::Engaged,
    ];

    /// The name in configs and payloads.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PageVisit => "page_visit",
            Self::VideoPlay => "video_play",
            Self::VideoComplete => "video_complete",
            Self::FormSubmit => "form_submit",
            Self::LinkClick => "link_click",
            Self::LeadIdentified => "lead_identified",
            Self::Purchase => "purchase",
            Self::Refund => "refund",
            Self::SubscriptionCancel => "subscription_cancel",
            Self::Engaged => "engaged",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The trigger an event row is, for an endpoint (engagement depends on its threshold).
    fn of(row: &EventRow, endpoint: &WebhookEndpoint) -> Option<Self> {
        use ktra_schema::EventType as E;
        Some(match E::parse(&row.event_type)? {
            E::PageView => Self::PageVisit,
            E::VideoStart => Self::VideoPlay,
            E::VideoComplete => Self::VideoComplete,
            E::FormSubmit => Self::FormSubmit,
            E::EmailClick => Self::LinkClick,
            E::Identify | E::Lead => Self::LeadIdentified,
            E::Purchase => Self::Purchase,
            E::Refund => Self::Refund,
            E::SubscriptionCancel => Self::SubscriptionCancel,
            E::Engagement if u64::from(row.engaged_ms) >= endpoint.engaged_secs.max(1) * 1000 => Self::Engaged,
            _ => return None,
        })
    }

    /// Whether the trigger is about an order: it fires once per order
    /// (`once_per = "event"`, the default for these), whichever reports of
    /// the order (browser, server, Stripe) arrive.
    const fn per_order(self) -> bool {
        matches!(self, Self::Purchase | Self::Refund | Self::SubscriptionCancel)
    }
}

/// Checks an endpoint's URL, secret, triggers and `once_per`.
pub fn check_endpoint(w: &WebhookEndpoint, allow_private: bool) -> Result<(), String> {
    deliver::check_target(&w.url, allow_private)?;
    deliver::secret_key(&w.secret)?;
    if w.triggers.is_empty() {
        return Err("no triggers".into());
    }
    if let Some(t) = w.triggers.iter().find(|t| Trigger::parse(t).is_none()) {
        return Err(format!("unknown trigger {t:?}"));
    }
    if !matches!(w.once_per.as_str(), "" | "lead" | "session" | "event") {
        return Err("once_per must be lead, session or event".into());
    }
    Ok(())
}

/// `*`-glob match of a whole string.
fn glob(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, p) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn matches(f: &TriggerFilter, row: &EventRow, message_id: &str) -> bool {
    let eq = |want: &str, got: &str| want.is_empty() || want == got;
    (f.path.is_empty() || glob(&f.path, &row.path))
        && eq(&f.video_id, &row.video_id)
        && eq(&f.form_id, &row.form_id)
        && eq(&f.product_id, &row.product_id)
        && eq(&f.message_id, message_id)
        && eq(&f.utm_campaign, &row.utm_campaign)
}

/// Most visitor→lead and click→lead entries kept in memory.
const MAX_LINKS: usize = 200_000;

/// A lead and the message of the email click it came from, if any.
#[derive(Debug, Clone, Default)]
struct Lead {
    lead_id: String,
    message_id: String,
}

/// The triggers of every site, and what they need to remember.
pub struct Automations {
    /// Pending deliveries.
    pub queue: Arc<deliver::Queue>,
    /// REST hook subscriptions.
    pub subscriptions: Arc<hooks::Subscriptions>,
    visitors: Mutex<HashMap<(String, String), Lead>>,
    clicks: Mutex<HashMap<String, Lead>>,
    fired: Mutex<HashSet<String>>,
    fired_journal: Journal<String>,
    /// Where to look up a visitor's lead that another collector saw ([`Self::with_lookup`]).
    lookup: Option<clickhouse::Client>,
    /// Visitors looked up in vain, and when (looked up again after [`RECALL_AGAIN_MS`]).
    misses: Mutex<HashMap<(String, String), u64>>,
}

/// How long a visitor whose lead ClickHouse did not know is not asked about again.
const RECALL_AGAIN_MS: u64 = 5_000;

impl std::fmt::Debug for Automations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Automations").finish_non_exhaustive()
    }
}

fn bounded_insert<K: std::hash::Hash + Eq, V>(m: &Mutex<HashMap<K, V>>, k: K, v: V) {
    let mut m = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if m.len() >= MAX_LINKS && !m.contains_key(&k) {
        m.clear();
    }
    m.insert(k, v);
}

impl Automations {
    /// State kept in `dir` (beside the spool).
    pub fn open(dir: &Path, queue: Arc<deliver::Queue>) -> std::io::Result<Self> {
        let (fired_journal, fired) = Journal::open(&dir.join("webhook-fired.jsonl"))?;
        Ok(Self {
            queue,
            subscriptions: Arc::default(),
            visitors: Mutex::default(),
            clicks: Mutex::default(),
            fired: Mutex::new(fired.into_iter().collect()),
            fired_journal,
            lookup: None,
            misses: Mutex::default(),
        })
    }

    /// Looks up, in ClickHouse, the lead of a visitor this collector has not
    /// seen identify: behind a load balancer the `identify` may have reached
    /// another collector. Only visitors whose row would fire a trigger are
    /// looked up, only under the row's own consent chain (a lead from a
    /// withdrawn chain is never revived), at most once per [`RECALL_AGAIN_MS`].
    pub fn with_lookup(mut self, client: clickhouse::Client) -> Self {
        self.lookup = Some(client);
        self
    }

    /// Fills the visitor map from ClickHouse for `rows` that would fire on `endpoints`.
    fn recall(&self, site_id: &str, rows: &[EventRow], endpoints: &[&WebhookEndpoint], now_ms: u64) {
        let Some(client) = &self.lookup else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let mut wanted: Vec<(String, String)> = Vec::new();
        {
            let visitors = self.visitors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let clicks = self.clicks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let misses = self.misses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for row in rows {
                let key = (row.site_id.clone(), row.visitor_id.clone());
                let would_fire = endpoints
                    .iter()
                    .any(|e| Trigger::of(row, e).is_some_and(|t| e.triggers.iter().any(|n| n == t.as_str())));
                if !would_fire
                    || !row.lead_id.is_empty()
                    || row.visitor_id.is_empty()
                    || visitors.get(&key).is_some_and(|l| !l.lead_id.is_empty())
                    || clicks.get(&row.email_click_id).is_some_and(|c| !c.lead_id.is_empty())
                    || misses.get(&key).is_some_and(|&at| now_ms.saturating_sub(at) < RECALL_AGAIN_MS)
                    || wanted.iter().any(|(v, _)| *v == row.visitor_id)
                {
                    continue;
                }
                wanted.push((row.visitor_id.clone(), row.consent_root.clone()));
            }
        }
        if wanted.is_empty() {
            return;
        }
        let (vids, roots): (Vec<String>, Vec<String>) = wanted.iter().cloned().unzip();
        let query = client
            .query(
                "SELECT visitor_id, argMax(lead_id, ts_ms) AS lead FROM events \
                 WHERE site_id = ? AND has(CAST(? AS Array(String)), visitor_id) \
                 AND has(CAST(? AS Array(String)), consent_root) AND lead_id != '' GROUP BY visitor_id",
            )
            .bind(site_id)
            .bind(vids)
            .bind(roots);
        let found = handle.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(2), query.fetch_all::<(String, String)>()).await
        });
        let found = match found {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return tracing::debug!(error = %e, "lead lookup failed"),
            Err(_) => return tracing::debug!("lead lookup timed out"),
        };
        let mut misses = self.misses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if misses.len() >= MAX_LINKS {
            misses.clear();
        }
        for (vid, _) in &wanted {
            let key = (site_id.to_string(), vid.clone());
            match found.iter().find(|(v, _)| v == vid) {
                Some((_, lead)) => {
                    let known = self.visitors.lock().ok().and_then(|m| m.get(&key).cloned());
                    let message_id = known.map(|l| l.message_id).unwrap_or_default();
                    bounded_insert(&self.visitors, key.clone(), Lead { lead_id: lead.clone(), message_id });
                    misses.remove(&key);
                }
                None => {
                    misses.insert(key, now_ms);
                }
            }
        }
    }

    /// An email click: `ktra_ec` on the landing page ties the visitor to
    /// the message, and to the lead when the click may name it (a lead with
    /// recorded consent, see `email_tracking`; else `lead_id` is empty and
    /// the visitor is a lead only once they identify).
    pub fn note_click(&self, click_id: &str, lead_id: &str, message_id: &str) {
        let lead = Lead { lead_id: lead_id.into(), message_id: message_id.into() };
        bounded_insert(&self.clicks, click_id.to_string(), lead);
    }

    /// The lead a row is about, if any, with the message of the email click
    /// that brought its visitor; remembers the visitor's lead and message.
    fn lead_of(&self, row: &EventRow) -> Option<Lead> {
        let key = (row.site_id.clone(), row.visitor_id.clone());
        let click = || self.clicks.lock().ok().and_then(|m| m.get(&row.email_click_id).cloned());
        if !row.lead_id.is_empty() {
            // A server's report may name a lead and no visitor: nothing to remember then.
            if row.visitor_id.is_empty() {
                return Some(Lead { lead_id: row.lead_id.clone(), message_id: String::new() });
            }
            let known = self.visitors.lock().ok().and_then(|m| m.get(&key).cloned());
            let message_id =
                known.map(|l| l.message_id).filter(|m| !m.is_empty()).or_else(|| click().map(|c| c.message_id));
            let lead = Lead { lead_id: row.lead_id.clone(), message_id: message_id.unwrap_or_default() };
            bounded_insert(&self.visitors, key, lead.clone());
            return Some(lead);
        }
        if row.visitor_id.is_empty() {
            return None;
        }
        if let Some(l) = self.visitors.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return (!l.lead_id.is_empty()).then_some(l);
        }
        let click = click()?;
        bounded_insert(&self.visitors, key, click.clone());
        (!click.lead_id.is_empty()).then_some(click)
    }

    /// Matches accepted rows against `site`'s endpoints and queues what fires.
    /// Rows must have been accepted under a token granting marketing.
    pub fn observe(&self, site_id: &str, site: &SiteConfig, rows: &[EventRow], now_ms: u64) {
        // Config endpoints by position, REST hooks by id.
        let mut endpoints: Vec<(String, Option<String>, WebhookEndpoint)> =
            site.webhooks.iter().enumerate().map(|(i, w)| (format!("cfg{i}"), None, w.clone())).collect();
        endpoints.extend(
            self.subscriptions.of(site_id).into_iter().map(|s| (format!("sub:{}", s.id), Some(s.id), s.endpoint)),
        );
        if endpoints.is_empty() {
            return;
        }
        self.recall(site_id, rows, &endpoints.iter().map(|(_, _, e)| e).collect::<Vec<_>>(), now_ms);
        for row in rows {
            let Some(lead) = self.lead_of(row) else { continue };
            for (name, subscription, endpoint) in &endpoints {
                let Some(trigger) = Trigger::of(row, endpoint) else { continue };
                if self.queue.health.disabled(site_id, &endpoint.url, now_ms) {
                    continue;
                }
                if !endpoint.triggers.iter().any(|t| t == trigger.as_str())
                    || !matches(&endpoint.filter, row, &lead.message_id)
                {
                    continue;
                }
                let scope = match (endpoint.once_per.as_str(), trigger.per_order()) {
                    ("session", _) => format!("session/{}", row.session_id),
                    ("lead", _) => format!("lead/{}", lead.lead_id),
                    // A refund fires per refund report, a purchase and a cancellation once per order.
                    (_, true) if trigger == Trigger::Refund => format!("refund/{}/{}", row.order_id, row.event_id),
                    (_, true) => format!("order/{}", row.order_id),
                    ("event", false) => format!("event/{}", row.event_id),
                    _ => format!("lead/{}", lead.lead_id),
                };
                let key = format!("{}/{name}/{}/{scope}", row.site_id, trigger.as_str());
                if !self.fired.lock().map(|mut f| f.insert(key.clone())).unwrap_or(false) {
                    continue;
                }
                if let Err(e) = self.fired_journal.append(&key) {
                    tracing::error!(error = %e, "cannot persist a fired trigger");
                }
                let lead_message = (lead.lead_id.as_str(), lead.message_id.as_str());
                let mut d = deliver::Delivery::new(endpoint, trigger, row, lead_message, &key, now_ms);
                d.subscription = subscription.clone();
                self.queue.push(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("/pricing*", "/pricing/pro"));
        assert!(glob("/course/*/done", "/course/a/b/done"));
        assert!(!glob("/course/*/done", "/course/a/b"));
        assert!(glob("/", "/") && !glob("/", "/x"));
        assert!(glob("*", "anything"));
    }

    #[test]
    fn endpoints_are_checked() {
        let ok = WebhookEndpoint {
            url: "https://hooks.example/x".into(),
            secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
            triggers: vec!["video_complete".into()],
            ..Default::default()
        };
        assert!(check_endpoint(&ok, false).is_ok());
        let bad = |f: &dyn Fn(&mut WebhookEndpoint)| {
            let mut w = ok.clone();
            f(&mut w);
            check_endpoint(&w, false).is_err()
        };
        assert!(bad(&|w| w.url = "http://hooks.example/x".into()), "https only");
        assert!(bad(&|w| w.url = "https://127.0.0.1/x".into()), "no loopback");
        assert!(bad(&|w| w.url = "https://10.1.2.3/x".into()), "no private");
        assert!(bad(&|w| w.secret = "plain".into()));
        assert!(bad(&|w| w.triggers = vec!["nope".into()]));
        assert!(bad(&|w| w.once_per = "day".into()));
        let mut local = ok.clone();
        local.url = "http://127.0.0.1:9/x".into();
        assert!(check_endpoint(&local, true).is_ok(), "allowed by config");
    }
}
