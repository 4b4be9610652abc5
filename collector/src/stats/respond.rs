//! What every `/v1/stats/…` endpoint takes besides site and range —
//! `filter=`, `compare=previous`, `format=json|csv` — and how it answers.
//!
//! With `compare=previous` the endpoint runs twice, for the range and for the
//! range of the same length just before it, and answers
//! `{…current…, "previous": {"from", "to", …}}`. CSV has one line per row of
//! the endpoint's table (a `period` column first when comparing).
//!
//! The CSV writer is a dozen lines (RFC 4180 quoting) rather than a crate; it
//! also defuses spreadsheet formulas: a cell starting with `=`, `+`, `-`, `@`,
//! tab or carriage return gets a leading `'`, since paths, referrers and
//! campaign names come from the public internet.
use super::filter::Filter;
use super::params::Range;
use crate::error::ApiError;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use ktra_schema::RejectReason;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The options common to every stats endpoint.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// Sessions kept.
    pub filter: Filter,
    /// Also answer the previous period.
    pub compare: bool,
    /// Answer CSV instead of JSON.
    pub csv: bool,
}

/// Parses `filter`, `compare` and `format`.
pub fn common(p: &HashMap<String, String>) -> Result<Common, ApiError> {
    let bad = |m: String| ApiError::bad(RejectReason::BadValue, m);
    let filter = Filter::parse(p.get("filter").map(String::as_str).unwrap_or("")).map_err(bad)?;
    let compare = match p.get("compare").map(|s| s.trim()).unwrap_or("") {
        "" | "none" => false,
        "previous" => true,
        _ => return Err(bad("compare must be previous (or absent)".into())),
    };
    let csv = match p.get("format").map(|s| s.trim()).unwrap_or("") {
        "" | "json" => false,
        "csv" => true,
        _ => return Err(bad("format must be json or csv".into())),
    };
    Ok(Common { filter, compare, csv })
}

/// The range of the same length just before `r`.
pub fn previous(r: Range) -> Range {
    let len = r.to - r.from;
    Range { from: r.from.saturating_sub(len), to: r.from }
}

/// The answer: JSON `current` (with `previous` inside when given), or CSV of
/// the rows `table` takes out of each.
pub fn answer(
    name: &str,
    current: Value,
    previous: Option<(Range, Value)>,
    csv: bool,
    table: impl Fn(&Value) -> Vec<Value>,
) -> Response {
    if csv {
        let mut rows = Vec::new();
        let compared = previous.is_some();
        for (period, v) in std::iter::once(("current", &current)).chain(previous.iter().map(|(_, v)| ("previous", v))) {
            for r in table(v) {
                let mut m = Map::new();
                if compared {
                    m.insert("period".into(), Value::from(period));
                }
                if let Value::Object(o) = r {
                    m.extend(o);
                }
                rows.push(Value::Object(m));
            }
        }
        let mut resp = to_csv(&rows).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let file: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"ktra-{file}.csv\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        return resp;
    }
    let mut body = current;
    if let (Some((r, prev)), Some(o)) = (previous, body.as_object_mut()) {
        let mut p = match prev {
            Value::Object(m) => m,
            other => Map::from_iter([("value".to_string(), other)]),
        };
        p.insert("from".into(), r.from.into());
        p.insert("to".into(), r.to.into());
        o.insert("previous".into(), Value::Object(p));
    }
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Columns put first when present (the comparison period, a breakdown group).
const LEADING: &[&str] = &["period", "group"];

/// CSV of JSON objects: the header is the union of keys ([`LEADING`] first).
pub fn to_csv(rows: &[Value]) -> String {
    let mut cols: Vec<String> = Vec::new();
    for l in LEADING {
        if rows.iter().any(|r| r.get(*l).is_some()) {
            cols.push(l.to_string());
        }
    }
    for r in rows {
        for k in r.as_object().into_iter().flat_map(|o| o.keys()) {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let mut out = String::new();
    out.push_str(&cols.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for r in rows {
        let line: Vec<String> = cols
            .iter()
            .map(|c| match r.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => cell(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                Some(v) => cell(&v.to_string()),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let rows = vec![json!({"path": "/a,\"b\"", "n": 3}), json!({"path": "=HYPERLINK(\"x\")", "extra": null})];
        // Columns in key order (JSON objects here are sorted maps).
        assert_eq!(to_csv(&rows), "n,path,extra\r\n3,\"/a,\"\"b\"\"\",\r\n,\"'=HYPERLINK(\"\"x\"\")\",\r\n");
        assert_eq!(to_csv(&[]), "\r\n");
    }

    #[test]
    fn options_are_checked_and_previous_is_as_long() {
        let p = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert!(common(&p("compare", "previous")).unwrap().compare);
        assert!(common(&p("compare", "year")).is_err());
        assert!(common(&p("format", "csv")).unwrap().csv);
        assert!(common(&p("format", "xlsx")).is_err());
        assert!(common(&p("filter", "nope:1")).is_err());
        assert_eq!(previous(Range { from: 100, to: 130 }), Range { from: 70, to: 100 });
    }
}
