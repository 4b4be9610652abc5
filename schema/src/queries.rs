//! The analyst's query library, embedded from `schema/queries/*.sql`.
//!
//! Queries are plain ClickHouse SQL against the `ktra` database with named
//! parameters in ClickHouse's own syntax — `{site:String}`, `{from:DateTime}`,
//! `{to:DateTime}` — so an analyst on a current server can run a file with
//! `clickhouse-client --param_site=demo ...`. ClickHouse 18.16 has no query
//! parameters, so [`render`] substitutes escaped literals; that is what the
//! collector and the tests use on every server.
//!
//! Every query counts an event id once, whatever retries or replays stored.
use std::collections::BTreeMap;

/// One query of the library.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// Name (file stem), also the `/v1/stats/{name}` endpoint.
    pub name: &'static str,
    /// SQL with `{name:Type}` parameters.
    pub sql: &'static str,
}

macro_rules! queries {
    ($($name:literal),* $(,)?) => {
        /// Every query of the library.
        pub const QUERIES: &[Query] = &[
            $(Query { name: $name, sql: include_str!(concat!("../queries/", $name, ".sql")) }),*
        ];
    };
}

queries!(
    "traffic_daily",
    "top_pages",
    "channels",
    "utm_campaigns",
    "countries",
    "devices",
    "scroll_depth",
    "video_engagement",
    "form_conversion",
    "consent_rates",
    "email_funnel",
    "email_click_to_purchase",
    "email_opens_clicks",
    "attribution_purchases",
    "attribution_touches",
);

/// Looks a query up by name.
pub fn get(name: &str) -> Option<&'static Query> {
    QUERIES.iter().find(|q| q.name == name)
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A string, rendered as an escaped literal.
    Str(String),
    /// A time as Unix seconds, rendered as `toDateTime(n)`.
    Time(u32),
    /// An unsigned integer.
    UInt(u64),
}

/// Error rendering a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RenderError {}

/// Escapes a string as a ClickHouse single-quoted literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Substitutes every `{name:Type}` with the literal for `params[name]`.
/// The declared type must match the value's kind; a missing parameter is an
/// error. Nothing of a value is ever pasted unescaped.
pub fn render(sql: &str, params: &BTreeMap<&str, Param>) -> Result<String, RenderError> {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return Ok(out);
        };
        let inner = &after[..close];
        let Some((name, ty)) = inner.split_once(':') else {
            // Not a parameter (e.g. a macro); keep as is.
            out.push('{');
            rest = after;
            continue;
        };
        let value = params.get(name.trim()).ok_or_else(|| RenderError(format!("missing parameter {name}")))?;
        let literal = match (ty.trim(), value) {
            ("String", Param::Str(s)) => quote(s),
            ("DateTime", Param::Time(t)) => format!("toDateTime({t})"),
            ("UInt32" | "UInt64", Param::UInt(n)) => n.to_string(),
            (ty, v) => return Err(RenderError(format!("parameter {name} is declared {ty} but given {v:?}"))),
        };
        out.push_str(&literal);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BTreeMap<&'static str, Param> {
        BTreeMap::from([
            ("site", Param::Str("demo".into())),
            ("from", Param::Time(0)),
            ("to", Param::Time(2_000_000_000)),
            ("limit", Param::UInt(10)),
        ])
    }

    #[test]
    fn quoting_escapes_everything_dangerous() {
        assert_eq!(quote("a'b\\c"), "'a\\'b\\\\c'");
        let sql =
            render("SELECT {site:String}", &BTreeMap::from([("site", Param::Str("x' OR 1=1 --".into()))])).unwrap();
        assert_eq!(sql, "SELECT 'x\\' OR 1=1 --'");
    }

    #[test]
    fn types_must_match_and_params_must_exist() {
        assert!(render("{site:DateTime}", &params()).is_err());
        assert!(render("{nope:String}", &params()).is_err());
    }

    #[test]
    fn every_query_renders() {
        for q in QUERIES {
            let sql = render(q.sql, &params()).unwrap_or_else(|e| panic!("{}: {e}", q.name));
            assert!(!sql.contains("{site"), "{}", q.name);
            assert!(!sql.contains('?'), "{}: '?' would be taken as a bind placeholder", q.name);
        }
    }
}
