//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the collector's HTTP
//! API, built with `utoipa`'s builders from one table ([`ENDPOINTS`]: method,
//! path, who may call it, parameters) plus what the code already lists (the
//! analyst queries of `/v1/stats/{query}`, the filter keys, the funnel
//! breakdowns). Handlers stay unannotated: they live in modules with other
//! owners, and one table is easier to keep whole than attributes in ten files.
//!
//! A test reads the router's `.route(…)` calls in `lib.rs` and checks that
//! every path and method is in the document, and nothing else is.
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use ktra_schema::queries::QUERIES;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Required, ResponseBuilder,
    Type,
};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone (the public, hostile surface; consent and origins apply).
    Public,
    /// The admin key.
    Admin,
    /// The admin key or a share link of the site asked for.
    AdminOrShare,
    /// A site API key (server to server).
    SiteKey,
}

/// A parameter: name, where, required, description.
pub type Param = (&'static str, ParameterIn, bool, &'static str);

/// One operation.
#[derive(Clone, Copy)]
pub struct Endpoint {
    /// HTTP method.
    pub method: &'static str,
    /// Path, axum style (`{site}`), as OpenAPI writes it too.
    pub path: &'static str,
    /// Group.
    pub tag: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// Its parameters besides the common stats ones.
    pub params: &'static [Param],
    /// Takes `site`, `from`, `to`, `filter`, `compare`, `format` (a stats endpoint).
    pub stats: bool,
}

const Q: ParameterIn = ParameterIn::Query;
const P: ParameterIn = ParameterIn::Path;

const fn ep(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: Auth,
) -> Endpoint {
    Endpoint { method, path, tag, summary, auth, params: &[], stats: false }
}

const fn stats(path: &'static str, summary: &'static str, params: &'static [Param]) -> Endpoint {
    Endpoint { method: "get", path, tag: "stats", summary, auth: Auth::AdminOrShare, params, stats: true }
}

/// Every route of the router.
pub const ENDPOINTS: &[Endpoint] = &[
    ep("post", "/v1/events", "ingest", "A batch of events (JSON; text/plain accepted, for sendBeacon)", Auth::Public),
    ep("options", "/v1/events", "ingest", "CORS preflight", Auth::Public),
    ep("post", "/v1/consent", "consent", "Record a consent decision; answers the signed token", Auth::Public),
    ep("options", "/v1/consent", "consent", "CORS preflight", Auth::Public),
    Endpoint {
        params: &[("site", P, true, "Site id")],
        ..ep(
            "get",
            "/v1/config/{site}",
            "consent",
            "The banner's configuration and consent model for the visitor's region",
            Auth::Public,
        )
    },
    Endpoint {
        params: &[("site", P, true, "Site id"), ("vid", P, true, "Visitor id (ktra_vid)")],
        ..ep(
            "get",
            "/v1/admin/visitors/{site}/{vid}",
            "admin",
            "Export everything stored for a visitor (right of access)",
            Auth::Admin,
        )
    },
    Endpoint {
        params: &[("site", P, true, "Site id"), ("vid", P, true, "Visitor id (ktra_vid)")],
        ..ep("delete", "/v1/admin/visitors/{site}/{vid}", "admin", "Erase a visitor (right to erasure)", Auth::Admin)
    },
    ep("post", "/v1/admin/links", "email", "Sign an email tracking link and its open pixel", Auth::Admin),
    Endpoint {
        params: &[("site", P, true, "Site id"), ("lead", P, true, "Lead id")],
        ..ep(
            "post",
            "/v1/admin/leads/{site}/{lead}/consent",
            "email",
            "Record a lead's consent to email tracking",
            Auth::Admin,
        )
    },
    ep(
        "post",
        "/v1/admin/shares",
        "shares",
        "Create a signed, expiring read-only link to one site's dashboard ({site, days?, label?})",
        Auth::Admin,
    ),
    Endpoint {
        params: &[("site", Q, true, "Site id")],
        ..ep("get", "/v1/admin/shares", "shares", "A site's share links (never their tokens)", Auth::Admin)
    },
    Endpoint {
        params: &[("id", P, true, "Share link id")],
        ..ep(
            "delete",
            "/v1/admin/shares/{id}",
            "shares",
            "Revoke a share link (every collector refuses it within seconds)",
            Auth::Admin,
        )
    },
    Endpoint {
        params: &[("site", P, true, "Site id"), ("name", P, true, "Funnel name ([A-Za-z0-9_.-], 1 to 64)")],
        ..ep(
            "put",
            "/v1/admin/funnels/{site}/{name}",
            "funnels",
            "Save a funnel made in the dashboard (JSON body as in the config: steps, window?, order?); every collector sees it within seconds; 201 new, 200 replaced",
            Auth::Admin,
        )
    },
    Endpoint {
        params: &[("site", P, true, "Site id"), ("name", P, true, "Funnel name")],
        ..ep(
            "delete",
            "/v1/admin/funnels/{site}/{name}",
            "funnels",
            "Delete a funnel saved from the dashboard (config funnels are edited in the file)",
            Auth::Admin,
        )
    },
    Endpoint {
        params: &[("id", P, true, "Delivery id")],
        ..ep("post", "/v1/admin/webhooks/{id}/redeliver", "automations", "Deliver a webhook again", Auth::Admin)
    },
    ep(
        "post",
        "/v1/admin/webhooks/enable",
        "automations",
        "Enable an endpoint disabled after failing too long (JSON body: site, url)",
        Auth::Admin,
    ),
    ep("get", "/v1/stats/sites", "stats", "Sites, query names, and each site's goals and funnels", Auth::AdminOrShare),
    Endpoint {
        params: &[("site", Q, true, "Site id"), ("since", Q, false, "Unix ms (default: 24 hours ago; at most 7 days)")],
        ..ep("get", "/v1/stats/live", "stats", "The newest events (visitor ids truncated)", Auth::AdminOrShare)
    },
    stats(
        "/v1/stats/funnel",
        "A funnel (configured or saved from the dashboard): visitors per step, conversions, drop-off, median time to the next step",
        &[
            ("funnel", Q, true, "Funnel name ([sites.ID.funnels.NAME])"),
            ("breakdown", Q, false, "channel, utm_campaign or message"),
        ],
    ),
    stats("/v1/stats/goals", "Each goal's conversions, visitors, conversion rate and revenue", &[]),
    stats(
        "/v1/stats/traffic",
        "Visitors, sessions and page views per hour (ranges up to 2 days) or per day, with totals",
        &[],
    ),
    stats("/v1/stats/online", "Visitors with an event in the last five minutes (no from/to)", &[]),
    stats("/v1/stats/retention", "Weekly retention cohorts", &[]),
    Endpoint {
        params: &[
            ("site", Q, true, "Site id"),
            ("trigger", Q, false, "Trigger"),
            ("status", Q, false, "Delivery status"),
        ],
        ..ep("get", "/v1/stats/webhooks", "automations", "Webhook endpoints and recent delivery attempts", Auth::Admin)
    },
    stats(
        "/v1/stats/{query}",
        "One query of the analyst library (schema/queries/*.sql)",
        &[("query", P, true, "Query name")],
    ),
    ep("post", "/v1/server/events", "server", "Server-side purchases, refunds, cancellations and leads", Auth::SiteKey),
    Endpoint {
        params: &[("site", P, true, "Site id")],
        ..ep("post", "/v1/server/stripe/{site}", "server", "Stripe webhooks (Stripe-Signature)", Auth::Public)
    },
    ep(
        "post",
        "/v1/hooks",
        "automations",
        "Subscribe a REST hook ({site, target_url, trigger, filter?})",
        Auth::SiteKey,
    ),
    Endpoint {
        params: &[("site", Q, true, "Site id")],
        ..ep("get", "/v1/hooks", "automations", "A site's REST hook subscriptions", Auth::SiteKey)
    },
    Endpoint {
        params: &[("trigger", P, true, "Trigger name")],
        ..ep("get", "/v1/hooks/samples/{trigger}", "automations", "A sample payload of a trigger", Auth::SiteKey)
    },
    Endpoint {
        params: &[("id", P, true, "Subscription id")],
        ..ep("delete", "/v1/hooks/{id}", "automations", "Unsubscribe a REST hook", Auth::SiteKey)
    },
    ep("get", "/v1/openapi.json", "meta", "This document", Auth::Public),
    Endpoint {
        params: &[("signed", P, true, "Signed link")],
        ..ep("get", "/c/{signed}", "email", "Email click: record it, redirect to the signed destination", Auth::Public)
    },
    Endpoint {
        params: &[("file", P, true, "Signed open id + .gif")],
        ..ep("get", "/o/{file}", "email", "Email open pixel", Auth::Public)
    },
    ep("get", "/healthz", "meta", "Liveness", Auth::Public),
    ep("get", "/readyz", "meta", "Readiness (ClickHouse and spool)", Auth::Public),
    ep("get", "/metrics", "meta", "Prometheus metrics", Auth::Admin),
];

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn param(name: &str, at: ParameterIn, required: bool, description: &str, schema: ObjectBuilder) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(at)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
}

fn method(m: &str) -> HttpMethod {
    match m {
        "post" => HttpMethod::Post,
        "delete" => HttpMethod::Delete,
        "put" => HttpMethod::Put,
        "options" => HttpMethod::Options,
        _ => HttpMethod::Get,
    }
}

/// The document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for e in ENDPOINTS {
        let mut op = OperationBuilder::new()
            .tag(e.tag)
            .summary(Some(e.summary))
            .operation_id(Some(format!("{}_{}", e.method, e.path.trim_matches('/').replace(['/', '{', '}', '.'], "_"))))
            .response("200", ResponseBuilder::new().description("OK"))
            .response("400", ResponseBuilder::new().description("Bad input: a JSON error with a reason code"));
        match e.auth {
            Auth::Public => {}
            Auth::Admin => op = op.security(SecurityRequirement::new("admin_key", Vec::<String>::new())),
            Auth::AdminOrShare => {
                op = op
                    .security(SecurityRequirement::new("admin_key", Vec::<String>::new()))
                    .security(SecurityRequirement::new("share_link", Vec::<String>::new()))
            }
            Auth::SiteKey => op = op.security(SecurityRequirement::new("site_key", Vec::<String>::new())),
        }
        if e.auth != Auth::Public {
            op = op.response("401", ResponseBuilder::new().description("A valid key is required"));
        }
        for (name, at, required, description) in e.params {
            let schema = if *name == "query" {
                string().enum_values(Some(QUERIES.iter().map(|q| q.name)))
            } else if *name == "breakdown" {
                string().enum_values(Some(["channel", "utm_campaign", "message"]))
            } else {
                string()
            };
            op = op.parameter(param(name, at.clone(), *required, description, schema));
        }
        if e.stats {
            let unix = || ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0.0));
            let ranged = e.path != "/v1/stats/online";
            op = op
                .parameter(param("site", Q, true, "Site id", string()))
                .parameter(param("from", Q, ranged, "Start, Unix seconds (inclusive)", unix()))
                .parameter(param("to", Q, ranged, "End, Unix seconds (exclusive); at most 400 days after from", unix()))
                .parameter(param(
                    "filter",
                    Q,
                    false,
                    "Sessions kept: key:value;… with keys channel, referrer, utm_source, utm_medium, utm_campaign, \
                     country, device, path (glob with *), message",
                    string(),
                ))
                .parameter(param(
                    "compare",
                    Q,
                    false,
                    "previous: also answer the period of the same length before, under \"previous\"",
                    string().enum_values(Some(["previous"])),
                ))
                .parameter(param(
                    "format",
                    Q,
                    false,
                    "json (default) or csv",
                    string().enum_values(Some(["json", "csv"])),
                ));
        }
        paths = paths.path(e.path, PathItem::new(method(e.method), op));
    }
    let components = ComponentsBuilder::new()
        .security_scheme("admin_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .security_scheme("share_link", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .security_scheme("site_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("ktra collector")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Consent-first web analytics: ingest, consent, email tracking, stats, automations.")),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// `GET /v1/openapi.json`.
pub async fn serve() -> Response {
    let body = document().to_json().unwrap_or_else(|_| "{}".into());
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `(method, path)` of every `.route(…)` in `app()` of lib.rs.
    fn routed() -> BTreeSet<(String, String)> {
        let src = include_str!("../lib.rs");
        let start = src.find("pub fn app(").unwrap();
        let body = &src[start..start + src[start..].find("\n}\n").unwrap()];
        let mut out = BTreeSet::new();
        for call in body.split(".route(").skip(1) {
            // `.route("/path", get(…))`, or the same over several lines.
            let (path, rest) = call.trim_start().strip_prefix('"').unwrap().split_once('"').unwrap();
            // The handlers chained on this path: get(…), .post(…), .options(…) up to the route's end.
            let end = rest.find("\n        .").unwrap_or(rest.len());
            for m in ["get", "post", "delete", "options", "put"] {
                let bare = rest[..end]
                    .trim_start_matches(|c: char| c == ',' || c.is_whitespace())
                    .starts_with(&format!("{m}("));
                if bare || rest[..end].contains(&format!(".{m}(")) {
                    out.insert((m.to_string(), path.to_string()));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routes = routed();
        assert!(routes.len() > 25, "the parser found the router: {routes:?}");
        assert!(routes.contains(&("options".into(), "/v1/events".into())));
        let doc: serde_json::Value = serde_json::from_str(&document().to_json().unwrap()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for m in item.as_object().unwrap().keys() {
                documented.insert((m.clone(), path.clone()));
            }
        }
        let missing: Vec<_> = routes.difference(&documented).collect();
        assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
        let extra: Vec<_> = documented.difference(&routes).collect();
        assert!(extra.is_empty(), "documented but not routed: {extra:?}");
        let q = &doc["paths"]["/v1/stats/{query}"]["get"]["parameters"];
        assert!(q.to_string().contains("top_pages"), "the library's query names: {q}");
        assert!(doc["paths"]["/v1/stats/funnel"]["get"]["parameters"].to_string().contains("\"filter\""));
    }
}
