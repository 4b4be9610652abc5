//! `filter=` on every `/v1/stats/…` endpoint, e.g.
//! `channel:email;utm_campaign:spring;path:/shop*;country:DE;device:mobile`.
//!
//! A filter keeps whole sessions: those whose landing attributes match (the
//! same definitions as the `sessions` view: first non-internal channel and
//! referrer, first UTM values, country and device) and, for `path`, those
//! with a page view of a matching path (`*` is a wildcard). `message` keeps
//! sessions that came from a click in that email message. Terms are ANDed.
//!
//! The session's attributes are those of the `sessions` view (one definition,
//! `ktra_schema::sessions`), read from the collector's stored sessions, for
//! sessions that started from a day before the range to its end; a page
//! term reads the sessions' page views in `events` (without `FINAL`: a
//! retried copy matches as its original). The condition is `session_id IN (…)`, rendered with escaped literals, and
//! is added to every `events`, `sessions` or `orders` select of a rendered query
//! ([`apply`]); a query that reads neither (consent rates) refuses a filter.
use super::defs::glob_to_like;
use ktra_schema::queries::quote;

/// Longest `filter` parameter.
pub const MAX_LEN: usize = 1024;
/// Most terms in one filter.
pub const MAX_TERMS: usize = 10;
/// Longest value of one term.
pub const MAX_VALUE: usize = 256;
/// Sessions may start this long before the range and still count.
const SESSION_LEAD_SECS: u32 = 86_400;

/// The keys a filter may use, as the dashboard names them.
pub const KEYS: &[&str] =
    &["channel", "referrer", "utm_source", "utm_medium", "utm_campaign", "country", "device", "path", "message"];

/// A parsed filter: `(key, value)` pairs, keys unique, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter(pub Vec<(&'static str, String)>);

impl Filter {
    /// Parses `key:value;key:value` (empty = no filter). `page` is `path`, `campaign` is `utm_campaign`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX_LEN {
            return Err(format!("filter is longer than {MAX_LEN} characters"));
        }
        let mut terms: Vec<(&'static str, String)> = Vec::new();
        for term in raw.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            let (k, v) = term.split_once(':').ok_or_else(|| {
                format!("filter term {:?} must be key:value", term.chars().take(64).collect::<String>())
            })?;
            let k = match k.trim() {
                "page" => "path",
                "campaign" => "utm_campaign",
                "source" => "utm_source",
                "medium" => "utm_medium",
                other => other,
            };
            let key = KEYS.iter().find(|x| **x == k).ok_or_else(|| {
                format!("unknown filter key {:?}; one of {}", k.chars().take(32).collect::<String>(), KEYS.join(", "))
            })?;
            let v = v.trim();
            if v.len() > MAX_VALUE || v.chars().any(char::is_control) {
                return Err(format!("filter value of {key} must be at most {MAX_VALUE} printable characters"));
            }
            if terms.iter().any(|(x, _)| x == key) {
                return Err(format!("filter key {key} is given twice"));
            }
            terms.push((key, v.to_string()));
        }
        if terms.len() > MAX_TERMS {
            return Err(format!("at most {MAX_TERMS} filter terms"));
        }
        terms.sort_by_key(|(k, _)| KEYS.iter().position(|x| x == k));
        Ok(Self(terms))
    }

    /// No terms.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The condition on `events` or `sessions` rows (`1` without terms). It
    /// reads the sessions from [`super::sessions::VISITS`], which the
    /// collector replaces with its stored sessions before running it
    /// ([`super::sessions::rewrite`]; [`super::sessions::standalone`] for
    /// running it elsewhere), and a `path` term from `events`.
    pub fn sql(&self, site: &str, from: u32, to: u32) -> String {
        if self.is_empty() {
            return "1".into();
        }
        let site_q = quote(site);
        let lead = from.saturating_sub(SESSION_LEAD_SECS);
        let mut parts = Vec::new();
        let attrs: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| *k != "path")
            .map(|(k, v)| {
                let q = quote(v);
                match *k {
                    "referrer" => format!("referrer_host = {q}"),
                    "message" => format!(
                        "email_click_id IN (SELECT click_id FROM email_clicks \
                         WHERE site_id = {site_q} AND message_id = {q})"
                    ),
                    col => format!("{col} = {q}"),
                }
            })
            .collect();
        if !attrs.is_empty() {
            parts.push(format!(
                "session_id IN (SELECT session_id FROM {visits} WHERE site_id = {site_q} \
                 AND started_at >= toDateTime({lead}) AND started_at < toDateTime({to}) AND {a})",
                visits = super::sessions::VISITS,
                a = attrs.join(" AND "),
            ));
        }
        if let Some((_, v)) = self.0.iter().find(|(k, _)| *k == "path") {
            parts.push(format!(
                "session_id IN (SELECT session_id FROM events WHERE site_id = {site_q} \
                 AND ts >= toDateTime({lead}) AND ts < toDateTime({to}) \
                 AND event_type = 'page_view' AND path LIKE {})",
                quote(&glob_to_like(v))
            ));
        }
        parts.join(" AND ")
    }

    /// Back to the parameter form (for answers and links).
    pub fn to_param(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(";")
    }
}

/// Adds `AND (cond)` after every `site_id = '<site>'` of a rendered query
/// whose nearest preceding `FROM` reads `events`, `sessions` or `orders` (an
/// order is in the session of its browser purchase). `None` when
/// the query reads neither (the filter cannot apply).
pub fn apply(rendered: &str, site: &str, cond: &str) -> Option<String> {
    let needle = format!("site_id = {}", quote(site));
    let mut out = String::with_capacity(rendered.len() + cond.len() * 2);
    let mut rest = rendered;
    let mut done = &rendered[..0];
    let mut applied = false;
    while let Some(i) = rest.find(&needle) {
        let end = i + needle.len();
        let before = &rendered[..done.len() + i];
        let table = before
            .rfind("FROM ")
            .map(|f| before[f + 5..].split_whitespace().next().unwrap_or("").trim_matches('`'))
            .unwrap_or("");
        out.push_str(&rest[..end]);
        if table == "events" || table == "sessions" || table == "orders" {
            out.push_str(&format!(" AND ({cond})"));
            applied = true;
        }
        done = &rendered[..done.len() + end];
        rest = &rest[end..];
    }
    out.push_str(rest);
    applied.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aliases_and_refuses_the_rest() {
        let f = Filter::parse("utm_campaign:spring; channel:email;page:/shop*").unwrap();
        assert_eq!(f.to_param(), "channel:email;utm_campaign:spring;path:/shop*");
        assert!(Filter::parse("").unwrap().is_empty());
        assert!(Filter::parse("ip:1.2.3.4").unwrap_err().contains("unknown filter key"));
        assert!(Filter::parse("channel").is_err());
        assert!(Filter::parse("channel:a;channel:b").unwrap_err().contains("twice"));
        assert!(Filter::parse(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(Filter::parse(&format!("path:{}", "a".repeat(MAX_VALUE + 1))).is_err());
        assert!(Filter::parse("country:D\nE").is_err());
    }

    #[test]
    fn values_are_literals_and_only_events_and_sessions_are_filtered() {
        let f = Filter::parse("channel:x') OR 1=1 --;path:/a_%*").unwrap();
        let c = f.sql("demo", 100_000, 200_000);
        assert!(c.contains("= 'x\\') OR 1=1 --'"), "{c}");
        assert!(c.contains(r"path LIKE '/a\\_\\%%'"), "{c}");
        assert!(c.contains("ts >= toDateTime(13600)") && c.contains("started_at >= toDateTime(13600)"), "{c}");
        let sql = "SELECT 1 FROM events FINAL WHERE site_id = 'demo' AND x \
                   ANY LEFT JOIN (SELECT 1 FROM email_clicks FINAL WHERE site_id = 'demo')";
        let out = apply(sql, "demo", "C").unwrap();
        assert_eq!(out.matches("AND (C)").count(), 1, "{out}");
        assert!(out.contains("FROM events FINAL WHERE site_id = 'demo' AND (C) AND x"));
        assert!(apply("SELECT 1 FROM consent_log WHERE site_id = 'demo'", "demo", "C").is_none());
    }
}
