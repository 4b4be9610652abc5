//! Goals: for each configured goal of a site, its conversions (matching
//! events, each counted once), converted visitors, conversion rate (converted
//! visitors over all visitors of the range) and revenue (the sum over the
//! matching events: a purchase goal's sales).
use super::defs::Goal;
use ktra_schema::queries::quote;
use ktra_schema::EventType;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One row: `visitors`, then `cK`, `vK`, `rK` for the K-th goal (by name order).
///
/// A purchase goal is read from the `orders` view: orders, not purchase
/// reports (the browser and the server may both report one), their visitors,
/// and revenue net of refunds; one read of the view serves every purchase
/// goal. Visits are the browser's rows, read without `FINAL` (it made this
/// query several times slower at ten million events): conversions are
/// distinct event ids and revenue sums each event id once, so retried copies
/// count once.
///
/// `visitors`, when known (the range's visitors from the hourly rollups, for
/// an unfiltered range), is used as it is instead of counting every visitor
/// of the range again: that count was a third of this query's time at ten
/// million events.
pub fn sql(
    goals: &BTreeMap<String, Goal>,
    site: &str,
    from: u32,
    to: u32,
    filter: &str,
    visitors: Option<u64>,
) -> String {
    let mut inner = vec![match visitors {
        Some(n) => format!("toUInt64({n}) AS visitors"),
        None => "uniqExact(visitor_id) AS visitors".to_string(),
    }];
    let mut outer = vec!["visitors".to_string()];
    let mut placed = Vec::new();
    for (k, g) in goals.values().enumerate() {
        let c = g.sql();
        if g.event.as_deref() == Some(EventType::Purchase.as_str()) {
            let product = g.product_id.as_deref().map(|p| format!("product_id = {}", quote(p))).unwrap_or("1".into());
            let at = placed.len() + 1;
            placed.push(format!("countIf({product})"));
            placed.push(format!("uniqExactIf(visitor_id, visitor_id != '' AND {product})"));
            placed.push(format!("sumIf(revenue, {product})"));
            outer.push(format!("placed.{at} AS c{k}, placed.{} AS v{k}, placed.{} AS r{k}", at + 1, at + 2));
            continue;
        }
        inner.push(format!("uniqExactIf(event_id, {c}) AS c{k}"));
        inner.push(format!("uniqExactIf(visitor_id, {c}) AS v{k}"));
        inner.push(format!(
            "arraySum(arrayMap(x -> x.2, groupUniqArrayIf((event_id, revenue), {c} AND revenue != 0))) AS r{k}"
        ));
        outer.extend([format!("c{k}"), format!("v{k}"), format!("r{k}")]);
    }
    if !placed.is_empty() {
        inner.push(format!(
            "(SELECT ({}) FROM orders WHERE site_id = {} AND purchased_at >= toDateTime({from}) \
             AND purchased_at < toDateTime({to}) AND is_bot = 0 AND ({filter})) AS placed",
            placed.join(", "),
            quote(site)
        ));
    }
    format!(
        "SELECT {}\nFROM\n(\n  SELECT {}\n  FROM events\n  WHERE site_id = {} AND ts >= toDateTime({from}) \
         AND ts < toDateTime({to})\n    AND is_bot = 0 AND source != 'server' AND ({filter})\n)",
        outer.join(", "),
        inner.join(",\n    "),
        quote(site),
    )
}

/// The answer row as one object per goal.
pub fn rows(goals: &BTreeMap<String, Goal>, row: &Value) -> Vec<Value> {
    let num = |k: String| row.get(&k).and_then(Value::as_f64).unwrap_or(0.0);
    let total = num("visitors".into());
    goals
        .iter()
        .enumerate()
        .map(|(k, (name, g))| {
            let v = num(format!("v{k}"));
            json!({
                "goal": name,
                "label": g.label(),
                "conversions": num(format!("c{k}")) as u64,
                "visitors": v as u64,
                "conversion_rate": if total > 0.0 { (v / total * 10_000.0).round() / 10_000.0 } else { 0.0 },
                "revenue": (num(format!("r{k}")) * 100.0).round() / 100.0,
            })
        })
        .collect()
}
