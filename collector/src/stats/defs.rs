//! Goals and funnels as a site owner writes them in the config
//! (`[sites.ID.goals.NAME]`, `[sites.ID.funnels.NAME]`), checked, turned into
//! SQL conditions, and held where a SIGHUP can replace them without a restart.
//!
//! A [`Matcher`] says which events count: a page path glob alone means page
//! views of matching paths; `event` names an event type, narrowed by the other
//! fields (`form_id`, `video_id`, `product_id`, `name` of a custom event, and
//! `path` where the event happened). Every value is pasted into SQL as an
//! escaped literal only.
use crate::config::{Config, SiteConfig};
use ktra_schema::queries::quote;
use ktra_schema::wire::EventType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Steps a funnel may have.
pub const STEPS: std::ops::RangeInclusive<usize> = 2..=8;
/// The longest funnel window: 90 days.
pub const MAX_WINDOW_SECS: u32 = 90 * 86_400;
/// Longest name of a goal or funnel, and longest matcher value.
pub const MAX_NAME: usize = 64;
/// Longest matcher value (path glob, ids).
pub const MAX_VALUE: usize = 256;
/// Goals or funnels per site.
pub const MAX_PER_SITE: usize = 100;

/// Which events count for a goal or a funnel step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Matcher {
    /// Page path glob (`*` matches any characters), e.g. `/pricing*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Event type (`page_view`, `form_submit`, `purchase`, …); page views when only `path` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Name of a custom event (`ktra('track', name)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Form id of a `form_submit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form_id: Option<String>,
    /// Video id of a video event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    /// Product id of a purchase (or refund).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
}

/// A goal (`[sites.ID.goals.NAME]`): the events that count as a conversion.
pub type Goal = Matcher;

/// Step order of a funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Steps in the given order, each within the window of the first
    /// (ClickHouse `windowFunnel`, default mode, same on 18.16 and current).
    #[default]
    Strict,
    /// Steps in any order, all within the window that opens at the visitor's
    /// first funnel event.
    Any,
}

/// A funnel (`[sites.ID.funnels.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Funnel {
    /// 2 to 8 steps.
    pub steps: Vec<Matcher>,
    /// How long a visitor has from the first step, e.g. `"30m"`, `"24h"`, `"7d"` (default 7 days).
    pub window: Option<String>,
    /// `strict` (default) or `any`.
    pub order: Order,
}

impl Funnel {
    /// The window in seconds (default 7 days).
    pub fn window_secs(&self) -> Result<u32, String> {
        match &self.window {
            None => Ok(7 * 86_400),
            Some(w) => parse_window(w),
        }
    }
}

/// `"90s"`, `"30m"`, `"24h"`, `"7d"` → seconds (1 s to 90 days).
pub fn parse_window(w: &str) -> Result<u32, String> {
    let w = w.trim();
    let bad = || format!("window {:?} must be a number followed by s, m, h or d (at most 90d)", trunc(w));
    let cut = w.char_indices().last().map(|(i, _)| i).unwrap_or(0);
    let (num, unit) = w.split_at(cut);
    let n: u32 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    if secs == 0 || secs > MAX_WINDOW_SECS {
        return Err(bad());
    }
    Ok(secs)
}

fn trunc(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A glob (`*` = any characters) as a LIKE pattern, `%`, `_` and `\` escaped.
pub fn glob_to_like(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 4);
    for c in glob.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("\\%"),
            '_' => out.push_str("\\_"),
            '*' => out.push('%'),
            c => out.push(c),
        }
    }
    out
}

impl Matcher {
    /// Checks that it names something and that every value is bounded.
    pub fn check(&self) -> Result<(), String> {
        if self.path.is_none() && self.event.is_none() {
            return Err("needs a path or an event".into());
        }
        if let Some(e) = &self.event {
            if !EventType::ALL.iter().any(|t| t.as_str() == e) {
                return Err(format!("unknown event type {:?}", trunc(e)));
            }
        }
        for (field, v) in [
            ("path", &self.path),
            ("name", &self.name),
            ("form_id", &self.form_id),
            ("video_id", &self.video_id),
            ("product_id", &self.product_id),
        ] {
            if let Some(v) = v {
                if v.is_empty() || v.len() > MAX_VALUE || v.chars().any(char::is_control) {
                    return Err(format!("{field} must be 1 to {MAX_VALUE} printable characters"));
                }
            }
        }
        Ok(())
    }

    /// The SQL condition on one `events` row, values as escaped literals.
    pub fn sql(&self) -> String {
        let mut parts = Vec::new();
        let event = self.event.as_deref().unwrap_or(EventType::PageView.as_str());
        parts.push(format!("event_type = {}", quote(event)));
        if let Some(p) = &self.path {
            parts.push(format!("path LIKE {}", quote(&glob_to_like(p))));
        }
        for (col, v) in [
            ("event_name", &self.name),
            ("form_id", &self.form_id),
            ("video_id", &self.video_id),
            ("product_id", &self.product_id),
        ] {
            if let Some(v) = v {
                parts.push(format!("{col} = {}", quote(v)));
            }
        }
        format!("({})", parts.join(" AND "))
    }

    /// A short human label, e.g. `form_submit lead` or `/pricing*`.
    pub fn label(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(e) = &self.event {
            parts.push(e);
        }
        for v in [&self.name, &self.form_id, &self.video_id, &self.product_id].into_iter().flatten() {
            parts.push(v);
        }
        if let Some(p) = &self.path {
            parts.push(p);
        }
        parts.join(" ")
    }
}

/// Checks a goal's or funnel's name (`kind` names which in the message).
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME || !ktra_schema::validate::is_token_id(name) {
        return Err(format!("{kind} name {:?} must be 1 to {MAX_NAME} of [A-Za-z0-9_.-]", trunc(name)));
    }
    Ok(())
}

/// Checks a site's goals and funnels; the message names the bad one.
pub fn check_site(goals: &BTreeMap<String, Goal>, funnels: &BTreeMap<String, Funnel>) -> Result<(), String> {
    if goals.len() > MAX_PER_SITE || funnels.len() > MAX_PER_SITE {
        return Err(format!("at most {MAX_PER_SITE} goals and {MAX_PER_SITE} funnels per site"));
    }
    for (name, g) in goals {
        check_name("goal", name)?;
        g.check().map_err(|e| format!("goal {name}: {e}"))?;
    }
    for (name, f) in funnels {
        check_name("funnel", name)?;
        if !STEPS.contains(&f.steps.len()) {
            return Err(format!("funnel {name}: needs 2 to 8 steps, has {}", f.steps.len()));
        }
        for (i, s) in f.steps.iter().enumerate() {
            s.check().map_err(|e| format!("funnel {name}: step {}: {e}", i + 1))?;
        }
        f.window_secs().map_err(|e| format!("funnel {name}: {e}"))?;
    }
    Ok(())
}

/// One site's goals and funnels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteDefs {
    /// Goals by name.
    pub goals: BTreeMap<String, Goal>,
    /// Funnels by name.
    pub funnels: BTreeMap<String, Funnel>,
}

impl SiteDefs {
    fn of(site: &SiteConfig) -> Self {
        Self { goals: site.goals.clone(), funnels: site.funnels.clone() }
    }
}

/// Every site's goals and funnels, replaced whole on reload.
#[derive(Debug, Default)]
pub struct Definitions(RwLock<Arc<BTreeMap<String, SiteDefs>>>);

impl Definitions {
    /// The definitions of a configuration.
    pub fn from_config(config: &Config) -> Self {
        let d = Self::default();
        d.replace(config);
        d
    }

    /// Replaces every site's definitions with those of `config`.
    pub fn replace(&self, config: &Config) {
        let map = config.sites.iter().map(|(id, s)| (id.clone(), SiteDefs::of(s))).collect();
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
    }

    /// A site's definitions (empty for a site without any).
    pub fn site(&self, id: &str) -> SiteDefs {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned().unwrap_or_default()
    }
}

/// Re-reads the configuration file on every SIGHUP and replaces the goals
/// and funnels (only those: listeners, keys and sites stay as started). A
/// file that does not parse or validate is logged and the old definitions stay.
pub async fn reload_on_sighup(state: crate::state::AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; goals and funnels reload needs a restart");
            return;
        };
        loop {
            tokio::select! {
                _ = crate::sink::wait_true(&mut stop) => return,
                got = hup.recv() => if got.is_none() { return },
            }
            let _ = reload(&state);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (state, crate::sink::wait_true(&mut stop).await);
    }
}

/// Reloads goals and funnels from the configuration file the collector
/// started with; `Err` says why nothing changed.
pub fn reload(state: &crate::state::AppState) -> Result<(), String> {
    let result = match &state.config.path {
        None => Err("the collector was started without a config file".to_string()),
        Some(p) => Config::load(Some(p)).map_err(|e| e.to_string()),
    };
    match result {
        Ok(cfg) => {
            state.definitions.replace(&cfg);
            metrics::counter!(RELOADS, "outcome" => "ok").increment(1);
            tracing::info!("goals and funnels reloaded");
            Ok(())
        }
        Err(e) => {
            metrics::counter!(RELOADS, "outcome" => "error").increment(1);
            tracing::error!(error = %e, "goals and funnels not reloaded; the old ones stay");
            Err(e)
        }
    }
}

/// Reloads of goals and funnels, by `outcome` (`ok`, `error`).
pub const RELOADS: &str = "ktra_definitions_reloads_total";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_are_bounded() {
        assert_eq!(parse_window("7d"), Ok(7 * 86_400));
        assert_eq!(parse_window("30m"), Ok(1800));
        assert_eq!(parse_window("10s"), Ok(10));
        assert_eq!(parse_window("90d"), Ok(MAX_WINDOW_SECS));
        for bad in ["91d", "0s", "7", "d", "", "-1d", "7w", "99999999999d", "7é"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matchers_render_escaped_conditions() {
        let m = Matcher { path: Some("/a_b%*'x".into()), ..Default::default() };
        assert_eq!(m.sql(), r"(event_type = 'page_view' AND path LIKE '/a\\_b\\%%\'x')");
        let m = Matcher { event: Some("purchase".into()), product_id: Some("course".into()), ..Default::default() };
        assert_eq!(m.sql(), "(event_type = 'purchase' AND product_id = 'course')");
        assert!(Matcher::default().check().is_err());
        assert!(Matcher { event: Some("drop table".into()), ..Default::default() }.check().is_err());
        assert!(Matcher { path: Some("x".repeat(MAX_VALUE + 1)), ..Default::default() }.check().is_err());
        assert!(Matcher { path: Some("/a\n".into()), ..Default::default() }.check().is_err());
    }

    #[test]
    fn funnels_need_two_to_eight_steps_and_a_window() {
        let step = Matcher { path: Some("/".into()), ..Default::default() };
        let f = |n: usize, w: &str| Funnel { steps: vec![step.clone(); n], window: Some(w.into()), order: Order::Any };
        let check = |f: Funnel| check_site(&BTreeMap::new(), &BTreeMap::from([("f".to_string(), f)]));
        assert!(check(f(2, "1h")).is_ok());
        assert!(check(f(8, "1h")).is_ok());
        assert!(check(f(1, "1h")).unwrap_err().contains("2 to 8"));
        assert!(check(f(9, "1h")).is_err());
        assert!(check(f(3, "1y")).is_err());
        let cfg: crate::config::Config = toml::from_str(
            "[sites.s.goals.buy]\nevent='purchase'\nproduct_id='course'\n\
             [sites.s.funnels.f]\nsteps=[{path='/pricing*'},{event='form_submit',form_id='lead'},{event='purchase'}]\n\
             window='7d'\norder='any'\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.sites["s"].funnels["f"].order, Order::Any);
        assert!(toml::from_str::<crate::config::Config>("[sites.s.funnels.f]\norder='random'\n").is_err());
    }
}
