//! The consent decision the banner sends to `POST /v1/consent`, and its
//! validation. What a decision proves (the previous token) and what it
//! causes (revocation, erasure, the signed answer) are the collector's.
//!
//! ```json
//! {"site":"demo","action":"grant","source":"banner","granted":["analytics","marketing"],
//!  "denied":[],"revision":1,"language":"en","text_hash":"9f2c…","gpc":false,
//!  "decision_id":"<uuid>","previous":"<token>","vid":"<ktra_vid, withdraw only>"}
//! ```
use crate::limits::{MAX_ID_LEN, MAX_TOKEN_LEN};
use crate::validate::{parse_uuid, Reject, RejectReason};
use serde::{Deserialize, Serialize};

/// What a visitor decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAction {
    /// Both optional purposes granted.
    Grant,
    /// Nothing granted (a first refusal).
    Deny,
    /// One purpose granted.
    Change,
    /// Nothing granted after a grant of both: the visitor's data may be erased.
    Withdraw,
}

/// Where the decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsentSource {
    /// The first-layer banner.
    #[default]
    Banner,
    /// The banner reopened over a decision in force.
    Settings,
    /// Global Privacy Control.
    Gpc,
    /// `ktra('consent', …)` from the page.
    Api,
    /// The notice of an `opt_out` (or `none`) region, not refused: implied
    /// consent, accepted only where the visitor's region allows it.
    Notice,
}

/// How consent is obtained where the visitor is (`[sites.ID.regions]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentModel {
    /// The banner: nothing before an explicit grant (GDPR).
    #[default]
    OptIn,
    /// A notice: tracking until the visitor refuses or sends GPC (CCPA style).
    OptOut,
    /// No banner; a refusal (floating button, GPC) still stops tracking.
    None,
}

impl ConsentModel {
    /// Higher is stricter: `opt_in` > `opt_out` > `none`.
    pub const fn strictness(self) -> u8 {
        match self {
            Self::OptIn => 2,
            Self::OptOut => 1,
            Self::None => 0,
        }
    }

    /// Whether a visitor who has not refused counts as consenting (implied consent).
    pub const fn allows_implied(self) -> bool {
        !matches!(self, Self::OptIn)
    }
}

/// The optional purposes (`necessary` is always on and never recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Page views, scroll, engagement.
    Analytics,
    /// Campaigns, email attribution, leads.
    Marketing,
}

macro_rules! names {
    ($t:ty { $($v:ident = $s:literal),+ $(,)? }) => {
        impl $t {
            /// Every value, in documentation order.
            pub const ALL: &'static [$t] = &[$(<$t>::$v),+];

            /// The wire and column name.
            pub const fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),+ }
            }

            /// Parses a wire name.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

names!(ConsentAction { Grant = "grant", Deny = "deny", Change = "change", Withdraw = "withdraw" });
names!(ConsentSource { Banner = "banner", Settings = "settings", Gpc = "gpc", Api = "api", Notice = "notice" });
names!(ConsentModel { OptIn = "opt_in", OptOut = "opt_out", None = "none" });
names!(Purpose { Analytics = "analytics", Marketing = "marketing" });

/// A decision as the banner sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsentDecision {
    /// Site id.
    pub site: String,
    /// `grant`, `deny`, `change` or `withdraw`.
    pub action: String,
    /// `banner` (default), `settings`, `gpc` or `api`.
    #[serde(default)]
    pub source: String,
    /// Granted optional purposes.
    #[serde(default)]
    pub granted: Vec<String>,
    /// Denied optional purposes.
    #[serde(default)]
    pub denied: Vec<String>,
    /// Banner revision shown (default: the site's current one).
    #[serde(default)]
    pub revision: Option<u32>,
    /// Banner language.
    #[serde(default)]
    pub language: String,
    /// Hash of the banner texts shown.
    #[serde(default)]
    pub text_hash: String,
    /// The token of the decision this one replaces: the proof of who decides.
    #[serde(default)]
    pub previous: Option<String>,
    /// Visitor id (older banners send it with a withdrawal); never proof.
    #[serde(default)]
    pub vid: Option<String>,
    /// A UUID per decision: a retry after a lost answer is the same decision.
    #[serde(default)]
    pub decision_id: Option<String>,
    /// The browser reported Global Privacy Control.
    #[serde(default)]
    pub gpc: bool,
}

/// A decision that passed [`validate_decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDecision {
    /// What was decided.
    pub action: ConsentAction,
    /// Where.
    pub source: ConsentSource,
    /// Granted purposes (none for deny and withdraw), without repeats.
    pub granted: Vec<Purpose>,
    /// Every other optional purpose.
    pub denied: Vec<Purpose>,
    /// The banner revision shown.
    pub revision: u32,
    /// The decision id, lowercased, if sent.
    pub decision_id: Option<String>,
    /// The visitor id without the cookie's `.created` suffix, if it is a valid id.
    pub vid: Option<String>,
}

fn bad(message: impl Into<String>) -> Reject {
    Reject::new(RejectReason::BadValue, message)
}

fn purposes(v: &[String], field: &str) -> Result<Vec<Purpose>, Reject> {
    let mut out = Vec::new();
    for p in v.iter().filter(|p| *p != "necessary") {
        let purpose = Purpose::parse(p)
            .ok_or_else(|| bad(format!("{field} has unknown purpose {p:?}; use analytics, marketing")))?;
        if !out.contains(&purpose) {
            out.push(purpose);
        }
    }
    Ok(out)
}

/// Checks a decision against the site's current banner revision.
pub fn validate_decision(d: &ConsentDecision, current_revision: u32) -> Result<ValidDecision, Reject> {
    let action = ConsentAction::parse(&d.action)
        .ok_or_else(|| bad(format!("action {:?} must be grant, deny, change or withdraw", d.action)))?;
    let source = match d.source.as_str() {
        "" => ConsentSource::Banner,
        s => ConsentSource::parse(s)
            .ok_or_else(|| bad(format!("source {s:?} must be banner, settings, gpc, api or notice")))?,
    };
    let mut granted = purposes(&d.granted, "granted")?;
    let mut denied = purposes(&d.denied, "denied")?;
    if matches!(action, ConsentAction::Withdraw | ConsentAction::Deny) {
        granted.clear();
    }
    if granted.iter().any(|g| denied.contains(g)) {
        return Err(bad("a purpose cannot be both granted and denied"));
    }
    for p in Purpose::ALL {
        if !granted.contains(p) && !denied.contains(p) {
            denied.push(*p);
        }
    }
    let revision = d.revision.unwrap_or(current_revision);
    if revision > current_revision {
        return Err(bad(format!("revision {revision} is newer than the site's current revision {current_revision}")));
    }
    if d.language.len() > 16 || !d.language.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
        return Err(bad("language must be a short language tag"));
    }
    if d.text_hash.len() > 128 {
        return Err(bad("text_hash is longer than 128 bytes"));
    }
    if d.previous.as_ref().is_some_and(|t| t.len() > MAX_TOKEN_LEN) {
        return Err(Reject::new(RejectReason::TooLong, format!("previous exceeds {MAX_TOKEN_LEN} bytes")));
    }
    if d.vid.as_ref().is_some_and(|v| v.len() > 2 * MAX_ID_LEN) {
        return Err(bad("vid is too long"));
    }
    let decision_id = match d.decision_id.as_deref() {
        None | Some("") => None,
        Some(id) => {
            Some(parse_uuid(id).map(|_| id.to_ascii_lowercase()).ok_or_else(|| bad("decision_id must be a UUID"))?)
        }
    };
    // The pixel's cookie is `<visitor id>.<created>`; events carry the id alone.
    let vid = d.vid.as_deref().map(|v| v.split('.').next().unwrap_or(v)).filter(|v| crate::validate::is_token_id(v));
    Ok(ValidDecision { action, source, granted, denied, revision, decision_id, vid: vid.map(str::to_string) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(action: &str) -> ConsentDecision {
        ConsentDecision { site: "demo".into(), action: action.into(), ..Default::default() }
    }

    #[test]
    fn names_round_trip() {
        for a in ConsentAction::ALL {
            assert_eq!(ConsentAction::parse(a.as_str()), Some(*a));
        }
        assert_eq!(ConsentSource::parse("gpc"), Some(ConsentSource::Gpc));
        assert_eq!(Purpose::parse("necessary"), None);
        for m in ConsentModel::ALL {
            assert_eq!(ConsentModel::parse(m.as_str()), Some(*m));
            let json = serde_json::to_string(m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()), "serde and column names agree");
        }
        assert!(ConsentModel::OptIn.strictness() > ConsentModel::OptOut.strictness());
        assert!(ConsentModel::OptOut.strictness() > ConsentModel::None.strictness());
    }

    #[test]
    fn purposes_are_normalised_and_checked() {
        let d = ConsentDecision {
            granted: vec!["analytics".into(), "necessary".into(), "analytics".into()],
            ..decision("change")
        };
        let v = validate_decision(&d, 1).unwrap();
        assert_eq!((v.granted, v.denied), (vec![Purpose::Analytics], vec![Purpose::Marketing]));
        let w = ConsentDecision { granted: vec!["analytics".into()], ..decision("withdraw") };
        assert!(validate_decision(&w, 1).unwrap().granted.is_empty(), "a withdrawal grants nothing");
        for bad in [
            decision("nope"),
            ConsentDecision { source: "x".into(), ..decision("grant") },
            ConsentDecision { granted: vec!["ads".into()], ..decision("grant") },
            ConsentDecision {
                granted: vec!["analytics".into()],
                denied: vec!["analytics".into()],
                ..decision("change")
            },
            ConsentDecision { revision: Some(2), ..decision("grant") },
            ConsentDecision { language: "en;drop".into(), ..decision("grant") },
            ConsentDecision { decision_id: Some("nope".into()), ..decision("grant") },
        ] {
            assert_eq!(validate_decision(&bad, 1).unwrap_err().reason, RejectReason::BadValue, "{bad:?}");
        }
    }

    #[test]
    fn ids_are_normalised() {
        let d = ConsentDecision {
            decision_id: Some("0B6B3C1E-9A4F-4E1A-8D2B-7F6E5D4C3B2A".into()),
            vid: Some("v123.1700000000".into()),
            ..decision("withdraw")
        };
        let v = validate_decision(&d, 1).unwrap();
        assert_eq!(v.decision_id.as_deref(), Some("0b6b3c1e-9a4f-4e1a-8d2b-7f6e5d4c3b2a"));
        assert_eq!(v.vid.as_deref(), Some("v123"));
    }
}
