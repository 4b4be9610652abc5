//! `GET /v1/stats/funnel?site&funnel&from&to[&breakdown=channel|utm_campaign|message]`:
//! a configured funnel computed in ClickHouse, per visitor.
//!
//! - `order = "strict"`: the level a visitor reached is `windowFunnel(window)(ts, step1, …)`
//!   (default mode: steps in order, each within `window` seconds of the first,
//!   the edge included, other events in between allowed). 18.16 and current
//!   servers agree on this mode; the newer `'strict_order'` mode (no other event
//!   in between) is a different question and is not used.
//! - `order = "any"`: the window opens at the visitor's first event matching any
//!   step; a visitor reached step k if steps 1…k each happened within it.
//!
//! Per step: visitors who reached it, conversion from the previous and the
//! first step, drop-off to the next, and the median time to the next step
//! (strict: along the earliest chain of step events; any: from having done
//! steps 1…k to having done k+1 as well). Breakdown by the visitor's first
//! channel, first UTM campaign or first email message in the range.
//!
//! Reads `events` without `FINAL`: every per-visitor aggregate here
//! (`windowFunnel`, first times, `countIf(…) > 0`, `argMin`) gives the same
//! answer with or without the retried copies of an event, and `FINAL` made
//! the query about five times slower (docs/bench-dashboard.md).
use super::defs::{Funnel, Order};
use ktra_schema::queries::quote;
use serde_json::{json, Value};

/// Breakdown groups returned at most (the largest first).
pub const MAX_GROUPS: u32 = 50;

/// What a funnel can be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    /// The visitor's first acquisition channel in the range (`direct` without one).
    Channel,
    /// The visitor's first non-empty UTM campaign in the range.
    UtmCampaign,
    /// The message id of the visitor's first email click in the range.
    Message,
}

impl Breakdown {
    /// Parses `channel`, `utm_campaign`, `message`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "channel" => Some(Self::Channel),
            "utm_campaign" | "campaign" => Some(Self::UtmCampaign),
            "message" | "email_message" => Some(Self::Message),
            _ => None,
        }
    }

    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::UtmCampaign => "utm_campaign",
            Self::Message => "message",
        }
    }

    /// Per-visitor aggregate (inner query, over `events` columns).
    fn expr(self) -> &'static str {
        match self {
            Self::Channel => {
                "if(countIf(event_type = 'page_view' AND channel != 'internal') = 0, 'direct', \
                 argMinIf(channel, ts_ms, event_type = 'page_view' AND channel != 'internal'))"
            }
            Self::UtmCampaign => "argMinIf(utm_campaign, ts_ms, utm_campaign != '')",
            Self::Message => "argMinIf(email_click_id, ts_ms, email_click_id != '')",
        }
    }
}

/// Where the events come from: site, range and an extra condition (a filter).
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// Site id.
    pub site: &'a str,
    /// Start (Unix seconds), inclusive.
    pub from: u32,
    /// End (Unix seconds), exclusive.
    pub to: u32,
    /// An SQL condition on `events` rows (`1` for none), already rendered.
    pub filter: &'a str,
}

/// The SQL: one row per group (one row without breakdown) with
/// `group_value, s1…sN` (visitors at each step) and `m1…m(N-1)` (median seconds to the next step).
pub fn sql(f: &Funnel, window: u32, scope: &Scope, breakdown: Option<Breakdown>) -> String {
    let n = f.steps.len();
    let conds: Vec<String> = f.steps.iter().map(|s| s.sql()).collect();
    let any_step = conds.join(" OR ");
    let mut inner = vec!["visitor_id".to_string()];
    let mut durations = Vec::new();
    match f.order {
        Order::Strict => {
            inner.push(format!("windowFunnel({window})(ts, {}) AS level", conds.join(", ")));
            for (i, c) in conds.iter().enumerate() {
                inner.push(format!("arraySort(groupArrayIf(1000)(ts_ms, {c})) AS a{}", i + 1));
            }
            inner.push("a1[1] AS t1".into());
            for i in 2..=n {
                inner.push(format!("arrayFirst(x -> x >= t{p}, a{i}) AS t{i}", p = i - 1));
                durations.push(format!("if(t{i} >= t{p}, t{i} - t{p}, 0) AS d{p}", p = i - 1));
            }
        }
        Order::Any => {
            inner.push(format!("toUInt32(minIf(ts, {any_step})) AS t0"));
            for (i, c) in conds.iter().enumerate() {
                let k = i + 1;
                inner.push(format!("countIf({c}) > 0 AND toUInt32(minIf(ts, {c})) - t0 <= {window} AS r{k}"));
                inner.push(format!("minIf(ts_ms, {c}) AS f{k}"));
            }
            let level: Vec<String> =
                (1..=n).map(|k| (1..=k).map(|j| format!("r{j}")).collect::<Vec<_>>().join(" * ")).collect();
            inner.push(format!("toUInt8({}) AS level", level.join(" + ")));
            // Done with 1…k at the latest of their first times.
            inner.push("f1 AS g1".into());
            for k in 2..=n {
                inner.push(format!("greatest(g{p}, f{k}) AS g{k}", p = k - 1));
                durations.push(format!("g{k} - g{p} AS d{p}", p = k - 1));
            }
        }
    }
    inner.extend(durations);
    let (grp_inner, needs_page_views) = match breakdown {
        Some(b) => (format!("{} AS grp", b.expr()), b == Breakdown::Channel),
        None => ("'' AS grp".to_string(), false),
    };
    inner.push(grp_inner);
    // Only the rows a step or the breakdown needs (a visitor without a step
    // row has level 0 and is dropped either way).
    let rows_cond = match breakdown {
        None => format!("({any_step})"),
        Some(_) if needs_page_views => format!("({any_step} OR event_type = 'page_view')"),
        Some(Breakdown::UtmCampaign) => format!("({any_step} OR utm_campaign != '')"),
        Some(_) => format!("({any_step} OR email_click_id != '')"),
    };
    let mut outer = vec!["grp".to_string()];
    for k in 1..=n {
        outer.push(format!("countIf(level >= {k}) AS s{k}"));
    }
    for k in 1..n {
        outer.push(format!("toFloat64(quantileExactIf(0.5)(d{k}, level >= {next})) / 1000 AS m{k}", next = k + 1));
    }
    let inner_sql = format!(
        "SELECT {cols}\n    FROM events\n    WHERE site_id = {site} AND ts >= toDateTime({from}) AND ts < toDateTime({to})\n      \
         AND is_bot = 0 AND visitor_id != '' AND {rows_cond} AND ({filter})\n    GROUP BY visitor_id",
        cols = inner.join(",\n        "),
        site = quote(scope.site),
        from = scope.from,
        to = scope.to,
        filter = scope.filter,
    );
    let source = if breakdown == Some(Breakdown::Message) {
        // The click id becomes the message id of that click.
        format!(
            "(SELECT * FROM ({inner_sql}) AS per_visitor ANY LEFT JOIN \
             (SELECT click_id AS grp, any(message_id) AS message FROM email_clicks WHERE site_id = {site} GROUP BY click_id) \
             AS clicks USING grp)",
            site = quote(scope.site)
        )
    } else {
        format!("({inner_sql})")
    };
    let grp_out = if breakdown == Some(Breakdown::Message) { "if(grp = '', '', message)" } else { "grp" };
    outer[0] = format!("{grp_out} AS group_value");
    format!(
        "SELECT {cols}\nFROM {source}\nWHERE level > 0\nGROUP BY group_value\nORDER BY s1 DESC, group_value\nLIMIT {MAX_GROUPS}",
        cols = outer.join(",\n    "),
    )
}

/// Turns one answer row into steps with conversions and drop-offs.
pub fn steps(f: &Funnel, row: &Value) -> Vec<Value> {
    let n = f.steps.len();
    let num = |k: &str| row.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let visitors: Vec<f64> = (1..=n).map(|k| num(&format!("s{k}"))).collect();
    let ratio = |a: f64, b: f64| if b > 0.0 { (a / b * 10_000.0).round() / 10_000.0 } else { 0.0 };
    (0..n)
        .map(|i| {
            let v = visitors[i];
            let prev = if i == 0 { v } else { visitors[i - 1] };
            let next = visitors.get(i + 1).copied();
            json!({
                "step": i + 1,
                "label": f.steps[i].label(),
                "visitors": v as u64,
                "conversion_from_previous": ratio(v, prev),
                "conversion_from_first": ratio(v, visitors[0]),
                "drop_off": next.map(|nx| (v - nx).max(0.0) as u64),
                "median_secs_to_next": next.map(|nx| if nx > 0.0 { num(&format!("m{}", i + 1)) } else { 0.0 }),
            })
        })
        .collect()
}

/// Flat rows for CSV: one per (group, step).
pub fn flat_rows(answer: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut push = |group: &str, steps: &Value| {
        for s in steps.as_array().into_iter().flatten() {
            let mut row = json!({ "group": group });
            if let (Some(r), Some(s)) = (row.as_object_mut(), s.as_object()) {
                r.extend(s.clone());
            }
            out.push(row);
        }
    };
    push("(all)", &answer["steps"]);
    for g in answer["breakdown"]["groups"].as_array().into_iter().flatten() {
        push(g["value"].as_str().unwrap_or(""), &g["steps"]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::defs::Matcher;

    fn funnel(order: Order) -> Funnel {
        Funnel {
            steps: vec![
                Matcher { path: Some("/pricing*".into()), ..Default::default() },
                Matcher { event: Some("purchase".into()), product_id: Some("c'x".into()), ..Default::default() },
            ],
            window: Some("1h".into()),
            order,
        }
    }

    #[test]
    fn sql_escapes_and_uses_window_funnel_for_strict() {
        let scope = Scope { site: "s'", from: 10, to: 20, filter: "1" };
        let s = sql(&funnel(Order::Strict), 3600, &scope, Some(Breakdown::Channel));
        assert!(s.contains("windowFunnel(3600)(ts, (event_type = 'page_view' AND path LIKE '/pricing%')"), "{s}");
        assert!(s.contains("product_id = 'c\\'x'"));
        assert!(s.contains("site_id = 's\\''"));
        let a = sql(&funnel(Order::Any), 3600, &scope, Some(Breakdown::Message));
        assert!(!a.contains("windowFunnel") && a.contains("<= 3600") && a.contains("email_clicks"), "{a}");
    }

    #[test]
    fn steps_convert_and_drop_off() {
        let row = json!({"s1": 4, "s2": 1, "m1": 30.5});
        let st = steps(&funnel(Order::Strict), &row);
        assert_eq!(st[0]["conversion_from_previous"], 1.0);
        assert_eq!(st[1]["conversion_from_first"], 0.25);
        assert_eq!(st[0]["drop_off"], 3);
        assert_eq!(st[0]["median_secs_to_next"], 30.5);
        assert_eq!(st[1]["drop_off"], Value::Null);
    }
}
