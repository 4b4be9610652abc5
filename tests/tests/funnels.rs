//! Funnels, goals, filters, compare, CSV, hourly traffic, online now and
//! retention on a hand-built fixture whose numbers are worked out by hand
//! (in the comments beside each visitor), first through the collector on
//! ClickHouse 18.16, then the very same SQL on the current engine (chdb,
//! in-process, `python3 -c`), which must give the same rows.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_collector::stats::defs::{Funnel, Matcher, Order};
use ktra_collector::stats::{explore, filter::Filter, funnel, goals, params::Range, sessions};
use ktra_tests::browser::wait_until;
use ktra_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// 2026-01-01 00:00:00 UTC, a Thursday (its week starts Monday 2025-12-29).
const T: u32 = 1_767_225_600;
const DAY: u32 = 86_400;

fn page(path: &str) -> Matcher {
    Matcher { path: Some(path.into()), ..Default::default() }
}
fn ev(event: &str, f: impl FnOnce(&mut Matcher)) -> Matcher {
    let mut m = Matcher { event: Some(event.into()), ..Default::default() };
    f(&mut m);
    m
}

fn steps() -> Vec<Matcher> {
    vec![
        page("/pricing*"),
        ev("form_submit", |m| m.form_id = Some("lead".into())),
        ev("purchase", |m| m.product_id = Some("course".into())),
    ]
}

fn funnels() -> BTreeMap<String, Funnel> {
    BTreeMap::from([
        ("buy".to_string(), Funnel { steps: steps(), window: Some("1h".into()), order: Order::Strict }),
        ("buy_any".to_string(), Funnel { steps: steps(), window: Some("1h".into()), order: Order::Any }),
    ])
}

fn goal_defs() -> BTreeMap<String, Matcher> {
    BTreeMap::from([
        ("course".to_string(), ev("purchase", |m| m.product_id = Some("course".into()))),
        ("lead".to_string(), ev("form_submit", |m| m.form_id = Some("lead".into()))),
        ("pricing".to_string(), page("/pricing*")),
    ])
}

/// One `events` row.
#[allow(clippy::too_many_arguments)]
fn row(n: u32, vid: &str, at: u32, kind: &str, path: &str, channel: &str, campaign: &str, extra: Value) -> Value {
    let mut r = json!({
        "site_id": "funnels",
        "event_id": format!("00000000-0000-4000-8000-{n:012}"),
        "event_type": kind,
        "ts": at,
        "ts_ms": at as u64 * 1000,
        "received_at": at,
        "visitor_id": vid,
        "session_id": format!("s-{vid}"),
        "path": path,
        "url": format!("https://shop.example{path}"),
        "channel": channel,
        "utm_campaign": campaign,
        "device": "desktop",
        "country": "DE",
    });
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

/// The fixture. Window 1 h = 3600 s; range [T, T + 1 day).
/// Strict levels: v1 3, v2 2, v3 1, v4 1, v6 2 (v5 none, v7 a bot) → 5, 3, 1.
/// Any-order levels: v1 3, v2 2, v3 3, v4 1, v6 2 → 5, 4, 2.
fn fixture() -> Vec<Value> {
    let form = json!({"form_id": "lead"});
    let course = |rev: f64, order: &str| json!({"product_id": "course", "revenue": rev, "order_id": order});
    let none = json!({});
    vec![
        // v1 (email, spring, click ck1 of may-news): pricing, lead +600 s, course +1200 s → 3 / 3.
        // It comes back 8 days later (retention week 1).
        row(1, "v1", T, "page_view", "/pricing", "email", "spring", json!({"email_click_id": "ck1"})),
        row(2, "v1", T + 600, "form_submit", "/pricing", "internal", "spring", form.clone()),
        row(3, "v1", T + 1200, "purchase", "/thanks", "internal", "spring", course(100.0, "o1")),
        row(4, "v1", T + 8 * DAY, "page_view", "/blog", "direct", "", none.clone()),
        // v2 (search): lead exactly 3600 s after pricing (the window's edge, included),
        // the purchase 1 s beyond it → 2 / 2.
        row(10, "v2", T, "page_view", "/pricing/pro", "search", "", json!({"referrer_host": "www.google.com"})),
        row(11, "v2", T + 3600, "form_submit", "/pricing/pro", "internal", "", form.clone()),
        row(12, "v2", T + 3601, "purchase", "/thanks", "internal", "", course(100.0, "o2")),
        // v3 (direct): lead first, then pricing, then purchase → strict 1, any 3.
        row(20, "v3", T, "form_submit", "/", "direct", "", form.clone()),
        row(21, "v3", T + 100, "page_view", "/pricing", "direct", "", none.clone()),
        row(22, "v3", T + 200, "purchase", "/thanks", "internal", "", course(100.0, "o3")),
        // v4 (email, spring, click ck4 of june-news): pricing then a purchase without the lead form → 1 / 1.
        row(30, "v4", T + 60, "page_view", "/pricing", "email", "spring", json!({"email_click_id": "ck4"})),
        row(31, "v4", T + 110, "purchase", "/thanks", "internal", "spring", course(50.0, "o4")),
        // v5: a page outside the funnel.
        row(40, "v5", T + 5, "page_view", "/about", "search", "", none.clone()),
        // v6 (social, launch): pricing, lead (stored twice: a retried batch), an ebook → 2 / 2.
        row(
            50,
            "v6",
            T,
            "page_view",
            "/pricing",
            "social",
            "launch",
            json!({"utm_source": "twitter", "utm_medium": "social"}),
        ),
        row(51, "v6", T + 10, "form_submit", "/pricing", "internal", "launch", form.clone()),
        row(51, "v6", T + 10, "form_submit", "/pricing", "internal", "launch", form.clone()),
        row(
            52,
            "v6",
            T + 20,
            "purchase",
            "/thanks",
            "internal",
            "launch",
            json!({"product_id": "ebook", "revenue": 20.0, "order_id": "o6"}),
        ),
        // v7: a bot doing everything: never counted.
        row(60, "v7", T, "page_view", "/pricing", "search", "", json!({"is_bot": 1})),
        row(61, "v7", T + 1, "form_submit", "/pricing", "internal", "", json!({"is_bot": 1, "form_id": "lead"})),
        // v0, the day before (the previous period): pricing and lead → 1, 1, 0.
        row(70, "v0", T - DAY + 100, "page_view", "/pricing", "email", "", none.clone()),
        row(71, "v0", T - DAY + 200, "form_submit", "/pricing", "internal", "", form),
    ]
}

fn clicks() -> Vec<Value> {
    let click = |id: &str, msg: &str| json!({"click_id": id, "site_id": "funnels", "lead_id": "l", "message_id": msg, "clicked_at": T - 10});
    vec![click("ck1", "may-news"), click("ck4", "june-news")]
}

async fn insert(ch: &Ch, table: &str, rows: &[Value]) {
    let body: Vec<String> = rows.iter().map(Value::to_string).collect();
    ch.exec(&format!("INSERT INTO {table} FORMAT JSONEachRow\n{}\n", body.join("\n"))).await.unwrap();
}

async fn get(c: &TestCollector, path: &str) -> (u16, String) {
    let r = c.http.get(format!("{}{path}", c.url)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_json(c: &TestCollector, path: &str) -> Value {
    let (s, body) = get(c, path).await;
    assert_eq!(s, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn visitors(steps: &Value) -> Vec<u64> {
    steps.as_array().unwrap().iter().map(|s| s["visitors"].as_u64().unwrap()).collect()
}

fn groups(answer: &Value) -> Vec<(String, Vec<u64>)> {
    answer["breakdown"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["value"].as_str().unwrap().to_string(), visitors(&g["steps"])))
        .collect()
}

fn range_q(extra: &str) -> String {
    format!("site=funnels&from={T}&to={}{extra}", T + DAY)
}

#[tokio::test]
async fn funnels_goals_and_filters_on_a_hand_built_fixture() {
    let ch = Ch::fresh("funnels").await;
    let mut cfg = test_config(&ch);
    {
        let site = cfg.sites.get_mut("funnels").unwrap();
        site.funnels = funnels();
        site.goals = goal_defs();
    }
    let c = TestCollector::start(cfg).await;
    insert(&ch, "events", &fixture()).await;
    insert(&ch, "email_clicks", &clicks()).await;

    // Strict: 5 → 3 → 1; conversions and drop-offs from those.
    let a = get_json(&c, &format!("/v1/stats/funnel?funnel=buy&{}", range_q(""))).await;
    assert_eq!(visitors(&a["steps"]), [5, 3, 1], "{a}");
    assert_eq!(a["steps"][1]["conversion_from_previous"], 0.6);
    assert_eq!(a["steps"][2]["conversion_from_first"], 0.2);
    assert_eq!(a["steps"][0]["drop_off"], 2);
    // Step 1 → 2 along the earliest chain: v1 600 s, v2 3600 s, v6 10 s → median 600; 2 → 3: v1 600.
    assert_eq!(a["steps"][0]["median_secs_to_next"], 600.0);
    assert_eq!(a["steps"][1]["median_secs_to_next"], 600.0);
    assert_eq!(a["window_secs"], 3600);

    // Any order: v3 now completes: 5 → 4 → 2.
    let a = get_json(&c, &format!("/v1/stats/funnel?funnel=buy_any&{}", range_q(""))).await;
    assert_eq!(visitors(&a["steps"]), [5, 4, 2], "{a}");

    // Breakdowns: first channel, first campaign, message of the first email click.
    let g = |v: &[(&str, [u64; 3])]| v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect::<Vec<_>>();
    let a = get_json(&c, &format!("/v1/stats/funnel?funnel=buy&breakdown=channel&{}", range_q(""))).await;
    assert_eq!(visitors(&a["steps"]), [5, 3, 1], "the total beside a breakdown");
    let want = g(&[("email", [2, 1, 1]), ("direct", [1, 0, 0]), ("search", [1, 1, 0]), ("social", [1, 1, 0])]);
    assert_eq!(groups(&a), want, "{a}");
    let a = get_json(&c, &format!("/v1/stats/funnel?funnel=buy&breakdown=utm_campaign&{}", range_q(""))).await;
    assert_eq!(groups(&a), g(&[("", [2, 1, 0]), ("spring", [2, 1, 1]), ("launch", [1, 1, 0])]), "{a}");
    let a = get_json(&c, &format!("/v1/stats/funnel?funnel=buy&breakdown=message&{}", range_q(""))).await;
    assert_eq!(groups(&a), g(&[("", [3, 2, 0]), ("june-news", [1, 0, 0]), ("may-news", [1, 1, 1])]), "{a}");

    // Filters keep whole sessions.
    for (filter, want) in [
        ("channel:email", [2, 1, 1]),
        ("path:/pricing/pro*", [1, 1, 0]),
        ("message:may-news", [1, 1, 1]),
        ("utm_campaign:launch", [1, 1, 0]),
        ("channel:email;utm_campaign:none", [0, 0, 0]),
        ("country:FR", [0, 0, 0]),
        ("device:desktop", [5, 3, 1]),
        ("referrer:www.google.com", [1, 1, 0]),
        ("utm_source:twitter", [1, 1, 0]),
        ("medium:social", [1, 1, 0]),
    ] {
        let a = get_json(&c, &format!("/v1/stats/funnel?funnel=buy&{}", range_q(&format!("&filter={filter}")))).await;
        assert_eq!(visitors(&a["steps"]), want, "filter {filter}: {a}");
    }

    // The previous period (the day before): v0 → 1, 1, 0.
    let a = get_json(&c, &format!("/v1/stats/funnel?funnel=buy&compare=previous&{}", range_q(""))).await;
    assert_eq!(visitors(&a["steps"]), [5, 3, 1]);
    assert_eq!(visitors(&a["previous"]["steps"]), [1, 1, 0], "{a}");
    assert_eq!(a["previous"]["from"], T - DAY);

    // Goals: 6 visitors in the range (not the bot, not v0).
    let a = get_json(&c, &format!("/v1/stats/goals?{}", range_q(""))).await;
    let goal = |a: &Value, n: &str| a["rows"].as_array().unwrap().iter().find(|r| r["goal"] == n).unwrap().clone();
    let course = goal(&a, "course");
    assert_eq!((course["conversions"].as_u64(), course["visitors"].as_u64()), (Some(4), Some(4)), "{a}");
    assert_eq!((course["conversion_rate"].as_f64(), course["revenue"].as_f64()), (Some(0.6667), Some(350.0)));
    let lead = goal(&a, "lead");
    assert_eq!(
        (lead["conversions"].as_u64(), lead["visitors"].as_u64()),
        (Some(4), Some(4)),
        "the retried copy counts once"
    );
    assert_eq!(goal(&a, "pricing")["visitors"], 5);
    assert_eq!(goal(&a, "pricing")["conversion_rate"], 0.8333);
    let a = get_json(&c, &format!("/v1/stats/goals?{}", range_q("&filter=channel:email&compare=previous"))).await;
    assert_eq!(goal(&a, "course")["revenue"], 150.0, "{a}");
    assert_eq!(goal(&a, "lead")["conversion_rate"], 0.5);
    assert_eq!(goal(&a["previous"], "lead")["visitors"], 1, "v0 is an email visitor of the day before");

    // Traffic: hourly for a day, daily beyond two; totals net of nothing here.
    let a = get_json(&c, &format!("/v1/stats/traffic?{}", range_q("&compare=previous"))).await;
    assert_eq!(a["resolution"], "hour");
    let hours: Vec<(u64, u64)> = a["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["visitors"].as_u64().unwrap(), r["page_views"].as_u64().unwrap()))
        .collect();
    assert_eq!(hours, [(6, 6), (1, 0)], "{a}");
    assert_eq!(a["summary"]["visitors"], 6);
    assert_eq!(a["summary"]["purchases"], 5);
    assert_eq!(a["summary"]["revenue"], 370.0);
    assert_eq!(a["previous"]["summary"]["visitors"], 1);
    let a = get_json(&c, &format!("/v1/stats/traffic?site=funnels&from={T}&to={}", T + 3 * DAY)).await;
    assert_eq!(a["resolution"], "day");

    // A library query filtered, as CSV; consent rates read no events and refuse a filter.
    let (s, csv) = get(&c, &format!("/v1/stats/top_pages?{}", range_q("&filter=channel:email&format=csv"))).await;
    assert_eq!(s, 200, "{csv}");
    assert_eq!(csv, "avg_engaged_ms,page_views,path,visitors\r\n0,2,/pricing,2\r\n");
    let a = get_json(&c, &format!("/v1/stats/top_pages?{}", range_q("&compare=previous&filter=channel:email"))).await;
    let views = |rows: &Value| {
        rows.as_array().unwrap().iter().map(|r| (r["path"].clone(), r["page_views"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(views(&a["rows"]), [(json!("/pricing"), json!(2))], "{a}");
    assert_eq!(views(&a["previous"]["rows"]), [(json!("/pricing"), json!(1))], "v0, the day before: {a}");
    let (s, body) = get(&c, &format!("/v1/stats/consent_rates?{}", range_q("&filter=channel:email"))).await;
    assert_eq!(s, 400, "{body}");
    let (s, csv) = get(&c, &format!("/v1/stats/funnel?funnel=buy&{}", range_q("&format=csv&compare=previous"))).await;
    assert_eq!(s, 200);
    assert_eq!(csv.lines().count(), 1 + 3 + 3, "{csv}");
    assert!(csv.lines().next().unwrap().starts_with("period,"), "{csv}");

    // Hostile parameters.
    for (q, why) in [
        (format!("/v1/stats/funnel?funnel=nope&{}", range_q("")), 404),
        (format!("/v1/stats/funnel?funnel=buy&breakdown=ip&{}", range_q("")), 400),
        (format!("/v1/stats/funnel?funnel=buy&{}", range_q("&filter=ip:1")), 400),
        (format!("/v1/stats/goals?{}", range_q("&compare=lastyear")), 400),
        (format!("/v1/stats/goals?{}", range_q(&format!("&filter=path:{}", "a".repeat(300)))), 400),
        (format!("/v1/stats/goals?{}", range_q("&filter=channel:x%27)%20OR%201=1%20--")), 200),
    ] {
        assert_eq!(get(&c, &q).await.0, why, "{q}");
    }
    let r = c.http.get(format!("{}/v1/stats/goals?{}", c.url, range_q(""))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "no admin key");

    // Retention: one cohort (week of 2025-12-29), v1 back in week 1.
    let a = get_json(&c, &format!("/v1/stats/retention?site=funnels&from={T}&to={}", T + 30 * DAY)).await;
    let r = &a["rows"][0];
    assert_eq!(
        (r["cohort"].as_str(), r["visitors"].as_u64(), r["w1"].as_u64(), r["w2"].as_u64()),
        (Some("2025-12-29"), Some(6), Some(1), Some(0)),
        "{a}"
    );

    // Online now: one visitor in the last five minutes.
    let now = (now_ms() / 1000) as u32;
    insert(&ch, "events", &[row(90, "vnow", now - 30, "page_view", "/", "direct", "", json!({}))]).await;
    let a = get_json(&c, "/v1/stats/online?site=funnels").await;
    assert_eq!(a["visitors"], 1, "{a}");
    let a = get_json(&c, "/v1/stats/online?site=funnels&filter=channel:email").await;
    assert_eq!(a["visitors"], 0, "{a}");

    // The OpenAPI document is public and names these endpoints and their parameters.
    let r = c.http.get(format!("{}/v1/openapi.json", c.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let doc: Value = r.json().await.unwrap();
    for path in ["/v1/stats/funnel", "/v1/stats/goals", "/v1/admin/shares", "/v1/stats/{query}"] {
        assert!(doc["paths"][path].is_object(), "{path} in the OpenAPI document");
    }

    same_on_current_engine(&ch).await;
    c.stop().await;
}

/// The SQL behind each answer above, on 18.16 and on chdb: the same rows.
async fn same_on_current_engine(ch: &Ch) {
    let range = Range { from: T, to: T + DAY };
    let mut sql: BTreeMap<String, String> = BTreeMap::new();
    for (name, f) in funnels() {
        let window = f.window_secs().unwrap();
        for b in [
            None,
            Some(funnel::Breakdown::Channel),
            Some(funnel::Breakdown::UtmCampaign),
            Some(funnel::Breakdown::Message),
        ] {
            for filter in ["", "channel:email", "path:/pricing*;message:may-news"] {
                let cond = Filter::parse(filter).unwrap().sql("funnels", T, T + DAY);
                let scope = funnel::Scope { site: "funnels", from: T, to: T + DAY, filter: &cond };
                let key = format!("funnel {name} {} [{filter}]", b.map(|b| b.as_str()).unwrap_or("-"));
                sql.insert(key, funnel::sql(&f, window, &scope, b));
            }
        }
    }
    sql.insert("goals".into(), goals::sql(&goal_defs(), "funnels", T, T + DAY, "1", None));
    let f = Filter::parse("channel:email").unwrap();
    for (name, template, r) in [
        ("traffic_hourly", explore::TRAFFIC_HOURLY, range),
        ("summary", explore::SUMMARY, range),
        ("retention_weekly", explore::RETENTION_WEEKLY, Range { from: T, to: T + 30 * DAY }),
    ] {
        sql.insert(name.into(), explore::render(name, template, "funnels", r, &Filter::default()).unwrap());
        sql.insert(format!("{name} [channel:email]"), explore::render(name, template, "funnels", r, &f).unwrap());
    }
    // As the collector would run them, with the sessions a filter reads from every event.
    let sql: BTreeMap<String, String> = sql.into_iter().map(|(k, q)| (k, sessions::standalone(&q))).collect();
    let mut old = BTreeMap::new();
    for (k, q) in &sql {
        old.insert(k.clone(), normalize(&ch.rows(q).await));
    }
    assert!(old["funnel buy - []"][0]["s1"] == json!(5.0), "{:?}", old["funnel buy - []"]);

    // Dumped before the (blocking) chdb runs.
    let mut tables = BTreeMap::new();
    for t in ["events", "email_clicks"] {
        tables.insert(t, ch.exec(&format!("SELECT * FROM {t} FORMAT JSONEachRow")).await.unwrap());
    }
    let version = chdb(&json!({"version": true}))["version"].as_str().unwrap().to_string();
    let v = ktra_schema::migrations::ServerVersion::parse(&version).unwrap();
    let deploy = ktra_schema::migrations::Deployment::default();
    let mut migrations = ktra_schema::migrations::render(ktra_schema::migrations::MIGRATIONS_TABLE_SQL, v, &deploy);
    for m in ktra_schema::migrations::MIGRATIONS {
        migrations.extend(ktra_schema::migrations::render(m.sql, v, &deploy));
    }
    let new = chdb(&json!({"migrations": migrations, "tables": tables, "queries": sql}));
    for (k, rows) in &old {
        let got = normalize(new["results"][k].as_array().unwrap_or_else(|| panic!("{k}: {}", new["errors"][k])));
        assert_eq!(&got, rows, "{k} on chdb {version} differs from 18.16\n{}", sql[k]);
    }
}

/// Numbers (quoted by 18.16 or not) as floats rounded to 6 decimals.
fn normalize(rows: &[Value]) -> Vec<Value> {
    fn n(v: &Value) -> Value {
        match v {
            Value::Number(x) => json!((x.as_f64().unwrap() * 1e6).round() / 1e6),
            Value::String(s) => match s.parse::<f64>() {
                Ok(x) if !s.is_empty() => json!((x * 1e6).round() / 1e6),
                _ => v.clone(),
            },
            Value::Array(a) => Value::Array(a.iter().map(n).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), n(x))).collect()),
            other => other.clone(),
        }
    }
    rows.iter().map(n).collect()
}

const CHDB: &str = r#"
import json, os, sys, tempfile, shutil
os.environ["TZ"] = "UTC"
from chdb import session
req = json.load(sys.stdin)
tmp = tempfile.mkdtemp(prefix="ktra-chdb-funnels-")
s = session.Session(tmp)
try:
    if req.get("version"):
        print(json.dumps({"version": str(s.query("SELECT version()", "TabSeparated")).strip()}))
        sys.exit(0)
    s.query("CREATE DATABASE IF NOT EXISTS ktra")
    s.query("USE ktra")
    for m in req["migrations"]:
        s.query(m)
    zero = {"0000-00-00 00:00:00": "1970-01-01 00:00:00", "0000-00-00": "1970-01-01"}
    for t, text in req["tables"].items():
        rows = [json.loads(l) for l in text.splitlines() if l.strip()]
        rows = [{k: zero.get(v, v) if isinstance(v, str) else v for k, v in r.items()} for r in rows]
        if rows:
            s.query(f"INSERT INTO ktra.`{t}` FORMAT JSONEachRow\n" + "\n".join(json.dumps(r) for r in rows) + "\n")
    out, errs = {}, {}
    for k, q in req["queries"].items():
        try:
            out[k] = [json.loads(l) for l in s.query(q, "JSONEachRow").bytes().decode().splitlines() if l.strip()]
        except Exception as e:
            errs[k] = str(e)
    print(json.dumps({"results": out, "errors": errs}))
finally:
    s.close()
    shutil.rmtree(tmp, ignore_errors=True)
"#;

/// Runs the chdb script with `req` on stdin; a missing chdb fails the test.
fn chdb(req: &Value) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", CHDB])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(req.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chdb: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Funnels and goals change with the file and a SIGHUP, without a restart; a
/// file that does not validate leaves the old ones in place.
#[tokio::test]
async fn funnels_reload_on_sighup() {
    let ch = Ch::fresh("funnels_reload").await;
    let dir = fresh_dir("funnels-reload");
    let file = dir.join("ktra.toml");
    let mut cfg = test_config(&ch);
    cfg.path = Some(file.clone());
    let c = TestCollector::start(cfg).await;
    let q = format!("/v1/stats/funnel?funnel=signup&site=funnels_reload&from={T}&to={}", T + DAY);
    assert_eq!(get(&c, &q).await.0, 404);

    // The handler is installed by the collector's own task; give it a moment before the first signal.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let hup = || {
        let ok = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
        assert!(ok.success());
    };
    std::fs::write(
        &file,
        "[sites.funnels_reload.funnels.signup]\nsteps = [{path = '/'}, {event = 'form_submit'}]\nwindow = '1d'\n\
         [sites.funnels_reload.goals.lead]\nevent = 'form_submit'\n",
    )
    .unwrap();
    hup();
    let a = wait_until("the funnel after SIGHUP", std::time::Duration::from_secs(10), || async {
        let (s, body) = get(&c, &q).await;
        (s == 200).then(|| serde_json::from_str::<Value>(&body).unwrap())
    })
    .await;
    assert_eq!(a["steps"].as_array().unwrap().len(), 2);
    assert_eq!(a["window_secs"], 86_400);

    // One step only: refused, the two-step funnel stays.
    // (Other collectors of this process count their own failed reloads too: no config file.)
    let errors = || async {
        let text = c.http.get(format!("{}/metrics", c.url)).bearer_auth(ADMIN_KEY).send().await.unwrap();
        metric(&text.text().await.unwrap(), "ktra_definitions_reloads_total", &[("outcome", "error")])
    };
    let before = errors().await;
    std::fs::write(&file, "[sites.funnels_reload.funnels.signup]\nsteps = [{path = '/'}]\n").unwrap();
    hup();
    wait_until("the failed reload counted", std::time::Duration::from_secs(10), || async {
        (errors().await > before).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, body) = get(&c, &q).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["steps"].as_array().unwrap().len(), 2);
    c.stop().await;
}
