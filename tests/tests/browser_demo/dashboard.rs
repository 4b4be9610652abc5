//! The dashboard half of the demo walk-through: wait for a load, then read
//! every panel's table and compare it with the same library query run
//! straight on ClickHouse, and with what the visitor did.
use super::{query_param, same, text, LEAD, MESSAGE, PAGES, VALUE, WAIT};
use ktra_schema::queries::{self, Param};
use ktra_tests::browser::Stack;
use ktra_tests::num;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Waits until `#dash` finished a load after `prev` (its `data-loaded-at`);
/// fails with the panels' errors when it is only `partial`.
pub async fn loaded(s: &Stack, prev: &str) -> String {
    let b = &s.browser;
    let got = b
        .wait_js(
            "the dashboard to load",
            &format!(
                "(d => !d.hidden && d.dataset.loadedAt && d.dataset.loadedAt != {} && ['ready', 'partial'].includes(d.dataset.state) && [d.dataset.state, d.dataset.loadedAt])(document.getElementById('dash'))",
                json!(prev)
            ),
            WAIT,
        )
        .await;
    if got[0] != "ready" {
        let errors = b
            .js(
                "return [...document.querySelectorAll('.err')].map(e => e.dataset.testid + ': ' + e.textContent)",
                vec![],
            )
            .await;
        panic!("the dashboard loaded only partly: {errors}");
    }
    text(&got[1])
}

/// The panel's table as the dashboard rendered it: one map of
/// `data-col` → `data-value` per row.
type Table = Vec<BTreeMap<String, Value>>;

/// Compares a panel's rows with the query's rows, cell by cell, in order;
/// `computed` columns are the dashboard's own (checked by the caller).
fn compare(problems: &mut Vec<String>, panel: &str, shown: &Table, rows: &[Value], computed: &[&str]) {
    if shown.len() != rows.len() {
        problems.push(format!(
            "{panel}: {} rows shown, the query has {}: shown {shown:?}, query {rows:?}",
            shown.len(),
            rows.len()
        ));
        return;
    }
    for (i, (row, want)) in shown.iter().zip(rows).enumerate() {
        for (col, v) in row {
            if computed.contains(&col.as_str()) {
                continue;
            }
            match want.get(col) {
                Some(w) if same(v, w) => {}
                Some(w) => problems.push(format!("{panel} row {i} {col}: shown {v}, ClickHouse {w}")),
                None => problems.push(format!("{panel} row {i}: column {col} is not in the query's answer {want}")),
            }
        }
    }
}

fn col<'a>(t: &'a Table, i: usize, c: &str) -> &'a Value {
    t.get(i).and_then(|r| r.get(c)).unwrap_or(&Value::Null)
}

fn total(rows: &[Value], c: &str) -> f64 {
    rows.iter().map(|r| num(&r[c])).sum()
}

/// Every panel of the dashboard against the same query on ClickHouse, then
/// against what the visitor did.
pub async fn check(s: &Stack, order_id: &str) {
    let got = s
        .browser
        .js(
            r#"const tables = {};
            document.querySelectorAll('table[data-testid^="table-"]').forEach(t => {
              tables[t.dataset.testid.slice(6)] = [...t.querySelectorAll('tbody tr')].map(tr =>
                Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.col, td.dataset.value])));
            });
            const panels = {};
            document.querySelectorAll('[data-panel]').forEach(p => panels[p.dataset.panel] = {state: p.dataset.state, rows: p.dataset.rows});
            const kpis = {};
            document.querySelectorAll('[data-testid^="kpi-"]').forEach(k => kpis[k.dataset.testid.slice(4)] = k.dataset.value);
            const asked = performance.getEntriesByType('resource').map(e => e.name).filter(u => u.includes('/v1/stats/traffic_daily?'));
            return {tables, panels, kpis, asked: asked[asked.length - 1] || ''};"#,
            vec![],
        )
        .await;
    let tables: BTreeMap<String, Table> = serde_json::from_value(got["tables"].clone()).unwrap();
    let kpis = &got["kpis"];
    let asked = text(&got["asked"]);
    let param =
        |k: &str| query_param(&asked, k).unwrap_or_else(|| panic!("no {k} in the dashboard's request {asked:?}"));
    let (site, from, to) = (param("site"), param("from").parse::<u32>().unwrap(), param("to").parse::<u32>().unwrap());
    assert_eq!(site, s.collector.site, "the dashboard asked for the site picked");
    assert_eq!(to - from, 86_400, "the dashboard asked for 24 hours");

    // The same queries, rendered for the same site and range, straight from ClickHouse.
    let params = BTreeMap::from([("site", Param::Str(site)), ("from", Param::Time(from)), ("to", Param::Time(to))]);
    let mut ch: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for q in queries::QUERIES {
        ch.insert(q.name, s.ch.rows(&queries::render(q.sql, &params).unwrap()).await);
    }
    // 24 hours is drawn per hour (`/v1/stats/traffic`, ranges up to two days).
    let hourly = queries::render(ktra_collector::stats::explore::TRAFFIC_HOURLY, &params).unwrap();
    ch.insert("traffic_hourly", s.ch.rows(&hourly).await);
    eprintln!("dashboard tables: {}", serde_json::to_string(&tables).unwrap());

    let mut problems = Vec::new();
    let panels: [(&str, &str, &[&str]); 12] = [
        ("traffic", "traffic_hourly", &[]),
        ("pages", "top_pages", &[]),
        ("channels", "channels", &[]),
        ("campaigns", "utm_campaigns", &[]),
        ("revenue", "attribution_touches", &[]),
        ("countries", "countries", &[]),
        ("devices", "devices", &[]),
        ("scroll", "scroll_depth", &[]),
        ("video", "video_engagement", &["completion"]),
        ("forms", "form_conversion", &[]),
        ("consent", "consent_rates", &[]),
        ("purchases", "attribution_purchases", &[]),
    ];
    let empty = Table::new();
    for (panel, query, computed) in panels {
        let state = &got["panels"][panel];
        if state["state"] != "ready" {
            problems.push(format!("{panel}: panel state {state} (every panel has data after the walk)"));
        }
        let mut rows = ch[query].clone();
        if panel == "purchases" {
            rows.reverse(); // newest first
        }
        if num(&state["rows"]) != rows.len() as f64 {
            problems.push(format!("{panel}: data-rows {} vs {} rows of {query}", state["rows"], rows.len()));
        }
        compare(&mut problems, panel, tables.get(panel).unwrap_or(&empty), &rows, computed);
    }
    let video = tables.get("video").unwrap_or(&empty);
    for (i, r) in ch["video_engagement"].iter().enumerate() {
        let want = if num(&r["starts"]) > 0.0 { num(&r["completes"]) / num(&r["starts"]) } else { 0.0 };
        if !same(col(video, i, "completion"), &json!(want)) {
            problems.push(format!(
                "video row {i} completion: shown {}, completes/starts {want}",
                col(video, i, "completion")
            ));
        }
    }

    // The email panel joins three queries by message.
    let email = tables.get("email").unwrap_or(&empty);
    let find = |q: &str, m: &Value| ch[q].iter().find(|r| r["message_id"] == *m).cloned();
    let mut messages: Vec<Value> = Vec::new();
    for r in ch["email_opens_clicks"].iter().chain(&ch["email_funnel"]) {
        if !messages.contains(&r["message_id"]) {
            messages.push(r["message_id"].clone());
        }
    }
    let shown: Vec<&Value> = email.iter().map(|r| r.get("message_id").unwrap_or(&Value::Null)).collect();
    if shown != messages.iter().collect::<Vec<_>>() {
        problems.push(format!("email: messages shown {shown:?}, in the queries {messages:?}"));
    }
    for (i, m) in messages.iter().enumerate() {
        let (oc, fu, tp) = (find("email_opens_clicks", m), find("email_funnel", m), find("email_click_to_purchase", m));
        let zero = json!(0);
        let get = |r: &Option<Value>, c: &str| r.as_ref().map(|r| r[c].clone()).unwrap_or(zero.clone());
        let want = [
            ("opens", get(&oc, "opens")),
            ("proxy_opens", get(&oc, "proxy_opens")),
            ("click_to_open", get(&oc, "click_to_open")),
            ("clicks", if fu.is_some() { get(&fu, "clicks") } else { get(&oc, "clicks") }),
            ("bot_clicks", get(&fu, "bot_clicks")),
            ("sessions", get(&fu, "sessions")),
            ("form_submits", get(&fu, "form_submits")),
            ("purchases", get(&fu, "purchases")),
            ("revenue", get(&fu, "revenue")),
            ("median_seconds", tp.as_ref().map(|r| r["median_seconds"].clone()).unwrap_or(Value::Null)),
        ];
        for (c, w) in want {
            if !same(col(email, i, c), &w) {
                problems.push(format!("email {m} {c}: shown {}, ClickHouse {w}", col(email, i, c)));
            }
        }
    }

    // The summary tiles, from the same queries.
    let consent = &ch["consent_rates"];
    let share = total(consent, "accepted") / total(consent, "decisions").max(1.0);
    for (k, w) in [
        ("visitors", total(&ch["countries"], "visitors")),
        ("page-views", total(&ch["traffic_daily"], "page_views")),
        ("sessions", total(&ch["channels"], "sessions")),
        ("purchases", total(&ch["attribution_touches"], "first_touch_purchases")),
        ("revenue", (total(&ch["attribution_touches"], "first_touch_revenue") * 100.0).round() / 100.0),
        ("consent", share),
    ] {
        if !same(&kpis[k], &json!(w)) {
            problems.push(format!("kpi {k}: shown {}, ClickHouse {w}", kpis[k]));
        }
    }
    assert!(problems.is_empty(), "the dashboard differs from ClickHouse:\n{}", problems.join("\n"));

    // What the visitor did, as the dashboard shows it.
    let t = |p: &str| tables.get(p).unwrap_or(&empty);
    let v = |p: &str, i: usize, c: &str| num(col(t(p), i, c));
    let s_ = |p: &str, i: usize, c: &str| text(col(t(p), i, c));
    let mut want: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            want.push(what);
        }
    };
    for (k, w) in [
        ("visitors", 1.0),
        ("page-views", PAGES.len() as f64),
        ("sessions", 1.0),
        ("purchases", 1.0),
        ("revenue", VALUE),
        ("consent", 1.0 / 2.0),
    ] {
        check(same(&kpis[k], &json!(w)), format!("kpi {k} = {w}, shown {}", kpis[k]));
    }
    let traffic = t("traffic");
    check(
        traffic.iter().map(|r| num(&r["page_views"])).sum::<f64>() == PAGES.len() as f64
            && traffic.iter().all(|r| num(&r["visitors"]) == 1.0),
        format!("traffic: {} page views by one visitor: {traffic:?}", PAGES.len()),
    );
    let pages: BTreeSet<String> = t("pages").iter().map(|r| text(&r["path"])).collect();
    check(pages == PAGES.iter().map(|p| p.to_string()).collect(), format!("pages: every page viewed, shown {pages:?}"));
    check(
        t("pages").iter().all(|r| num(&r["page_views"]) == 1.0 && num(&r["visitors"]) == 1.0),
        format!("pages: each viewed once by one visitor: {:?}", t("pages")),
    );
    check(
        t("channels").len() == 1
            && s_("channels", 0, "channel") == "email"
            && v("channels", 0, "sessions") == 1.0
            && v("channels", 0, "purchases") == 1.0
            && v("channels", 0, "revenue") == VALUE,
        format!("channels: one email session with the purchase: {:?}", t("channels")),
    );
    let forms_total = total(&s.ch.rows("SELECT count() AS n FROM events WHERE event_type = 'form_submit'").await, "n");
    check(
        t("campaigns").len() == 1
            && (s_("campaigns", 0, "utm_source"), s_("campaigns", 0, "utm_medium"), s_("campaigns", 0, "utm_campaign"))
                == ("newsletter".into(), "email".into(), MESSAGE.into())
            && v("campaigns", 0, "sessions") == 1.0
            && v("campaigns", 0, "form_submits") == forms_total
            && v("campaigns", 0, "purchases") == 1.0
            && v("campaigns", 0, "revenue") == VALUE,
        format!(
            "campaigns: newsletter / email / {MESSAGE} with {forms_total} form submits and the purchase: {:?}",
            t("campaigns")
        ),
    );
    check(
        t("revenue").len() == 1
            && s_("revenue", 0, "touch_type") == "email"
            && s_("revenue", 0, "touch") == MESSAGE
            && [
                v("revenue", 0, "first_touch_purchases"),
                v("revenue", 0, "first_touch_revenue"),
                v("revenue", 0, "last_touch_purchases"),
                v("revenue", 0, "last_touch_revenue"),
            ] == [1.0, VALUE, 1.0, VALUE],
        format!("revenue: first and last touch the email {MESSAGE}: {:?}", t("revenue")),
    );
    check(
        t("devices").len() == 1
            && s_("devices", 0, "browser") == "Chrome"
            && s_("devices", 0, "device") == "desktop"
            && v("devices", 0, "visitors") == 1.0,
        format!("devices: one Chrome desktop visitor: {:?}", t("devices")),
    );
    check(
        t("countries").len() == 1 && v("countries", 0, "visitors") == 1.0,
        format!("countries: one visitor: {:?}", t("countries")),
    );
    let depths: Vec<f64> = t("scroll").iter().map(|r| num(&r["depth"])).collect();
    check(
        [25.0, 50.0, 75.0, 90.0, 100.0].iter().all(|d| depths.contains(d))
            && t("scroll").iter().all(|r| num(&r["page_views_reaching"]) >= 1.0),
        format!("scroll: the journal read to 100 %: {:?}", t("scroll")),
    );
    check(
        t("video").len() == 1
            && s_("video", 0, "video_id") == "studio-tour"
            && ["starts", "p25", "p50", "p75", "completes", "completion"].iter().all(|c| v("video", 0, c) == 1.0),
        format!("video: the studio tour started, 25/50/75 % and completed once: {:?}", t("video")),
    );
    let lead_form = t("forms").iter().find(|r| r.get("form_id") == Some(&json!("lead-form")));
    check(
        lead_form.is_some_and(|r| {
            ["submits", "sessions_submitting", "sessions_total", "conversion"].iter().all(|c| num(&r[*c]) == 1.0)
        }),
        format!("forms: lead-form submitted once in the one session (100 %): {:?}", t("forms")),
    );
    let consent_sum = |c: &str| t("consent").iter().map(|r| num(&r[c])).sum::<f64>();
    check(
        [
            consent_sum("decisions"),
            consent_sum("accepted"),
            consent_sum("rejected"),
            consent_sum("customized"),
            consent_sum("withdrawn"),
        ] == [2.0, 1.0, 0.0, 0.0, 1.0],
        format!("consent: one accept all, one withdrawal: {:?}", t("consent")),
    );
    let mail = t("email").iter().find(|r| r.get("message_id") == Some(&json!(MESSAGE)));
    check(
        t("email").len() == 1
            && mail.is_some_and(|r| {
                [
                    num(&r["opens"]),
                    num(&r["clicks"]),
                    num(&r["bot_clicks"]),
                    num(&r["sessions"]),
                    num(&r["purchases"]),
                    num(&r["revenue"]),
                ] == [1.0, 1.0, 0.0, 1.0, 1.0, VALUE]
            }),
        format!("email: {MESSAGE} opened, clicked, one session, the purchase: {:?}", t("email")),
    );
    check(
        t("purchases").len() == 1
            && s_("purchases", 0, "order_id") == order_id
            && v("purchases", 0, "revenue") == VALUE
            && s_("purchases", 0, "first_touch") == MESSAGE
            && s_("purchases", 0, "last_touch") == MESSAGE
            && v("purchases", 0, "touches") == 1.0
            && s_("purchases", 0, "lead_id") == LEAD,
        format!(
            "purchases: order {order_id}, {VALUE}, email {MESSAGE} first and last, lead {LEAD}: {:?}",
            t("purchases")
        ),
    );
    assert!(want.is_empty(), "the dashboard does not show the visit:\n{}", want.join("\n"));
}
