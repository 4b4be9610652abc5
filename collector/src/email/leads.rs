//! Leads with recorded consent, for `email_tracking = "consented_leads"`.
//!
//! A lead is consented for a site when a visitor holding a token that grants
//! marketing identified as that lead (an `identify` event, which the
//! collector accepts only under such a token), or when the site owner
//! recorded it (`POST /v1/admin/leads/{site}/{lead}/consent`, table
//! `lead_consent`). Each collector keeps the set in memory, adds what it sees
//! at once, and reads back what other collectors recorded every
//! `revocation_refresh_secs`.
use crate::config::{EmailTracking, SiteConfig};
use std::collections::HashSet;
use std::sync::RwLock;

/// The set of `(site, lead)` pairs with consent.
#[derive(Debug, Default)]
pub struct ConsentedLeads {
    set: RwLock<HashSet<(String, String)>>,
}

impl ConsentedLeads {
    /// Records consent for `lead` of `site`.
    pub fn grant(&self, site: &str, lead: &str) {
        if lead.is_empty() {
            return;
        }
        if let Ok(mut s) = self.set.write() {
            s.insert((site.to_string(), lead.to_string()));
        }
    }

    /// Whether `lead` of `site` has consent.
    pub fn is_consented(&self, site: &str, lead: &str) -> bool {
        self.set.read().map(|s| s.contains(&(site.to_string(), lead.to_string()))).unwrap_or(false)
    }

    /// Whether an email click or open of `lead` may store the lead id, geo and device.
    pub fn may_track(&self, site_id: &str, site: &SiteConfig, lead: &str) -> bool {
        match site.email_tracking {
            EmailTracking::All => true,
            EmailTracking::Anonymous => false,
            EmailTracking::ConsentedLeads => self.is_consented(site_id, lead),
        }
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Lead {
    site_id: String,
    lead_id: String,
}

/// Reads consents recorded since `since` (Unix seconds): identify events and
/// the owner's records.
pub async fn load(
    client: &clickhouse::Client,
    leads: &ConsentedLeads,
    since: u32,
) -> Result<usize, clickhouse::error::Error> {
    let mut n = 0;
    for sql in [
        "SELECT site_id, lead_id FROM events WHERE event_type = 'identify' AND lead_id != '' \
         AND received_at >= toDateTime(?) GROUP BY site_id, lead_id",
        "SELECT site_id, lead_id FROM lead_consent WHERE recorded_at >= toDateTime(?) GROUP BY site_id, lead_id",
    ] {
        for l in client.query(sql).bind(since).fetch_all::<Lead>().await? {
            leads.grant(&l.site_id, &l.lead_id);
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_per_site() {
        let l = ConsentedLeads::default();
        l.grant("s", "lead-1");
        let site = |email_tracking| SiteConfig { email_tracking, ..Default::default() };
        assert!(l.may_track("s", &site(EmailTracking::ConsentedLeads), "lead-1"));
        assert!(!l.may_track("s", &site(EmailTracking::ConsentedLeads), "lead-2"));
        assert!(!l.may_track("other", &site(EmailTracking::ConsentedLeads), "lead-1"), "per site");
        assert!(!l.may_track("s", &site(EmailTracking::Anonymous), "lead-1"));
        assert!(l.may_track("s", &site(EmailTracking::All), "lead-2"));
    }
}
