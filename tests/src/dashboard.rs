//! The dashboard as the browser tests drive it: signing in, reading the
//! funnel's steps, downloading a panel's CSV.
use crate::browser::Browser;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A `[data-testid="…"]` selector.
pub fn tid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// Opens `{collector}/dashboard` and signs in with `key`.
pub async fn sign_in(b: &Browser, collector: &str, key: &str) {
    b.goto(&format!("{collector}/dashboard")).await;
    b.wait_js("the sign-in form", "!document.getElementById('login').hidden", WAIT).await;
    b.type_into(&b.find(&tid("admin-key")).await, key).await;
    b.click(&b.find(&tid("login")).await).await;
}

/// Visitors of each funnel step drawn in the funnel panel under `within`
/// (`""`: every step, the total's first, then each group's).
pub async fn funnel_steps(b: &Browser, within: &str) -> Vec<u64> {
    let v = b
        .js(
            &format!(
                "return [...document.querySelectorAll('[data-panel=funnel] {within} [data-testid=funnel-step]')].map(s => Number(s.dataset.visitors))"
            ),
            vec![],
        )
        .await;
    serde_json::from_value(v).unwrap_or_default()
}

/// Clicks a panel's CSV button and returns what it downloaded: `(file, lines, header)`.
pub async fn download_csv(b: &Browser, panel: &str) -> (String, u64, String) {
    let button = tid(&format!("csv-{panel}"));
    b.js(&format!("document.querySelector('{button}').dataset.state = ''"), vec![]).await;
    b.click(&b.find(&button).await).await;
    let got = b
        .wait_js(
            "the CSV download",
            &format!(
                "(e => e.dataset.state == 'done' && [e.dataset.file, e.dataset.lines, e.dataset.header])(document.querySelector('{button}'))"
            ),
            WAIT,
        )
        .await;
    let text = |i: usize| got[i].as_str().unwrap_or_default().to_string();
    (text(0), text(1).parse().unwrap_or(0), text(2))
}

/// Picks `by` in the funnel's breakdown and returns the groups drawn.
pub async fn break_down(b: &Browser, by: &str) -> Vec<String> {
    b.click(&b.find(&format!("{} option[value=\"{by}\"]", tid("breakdown-select"))).await).await;
    let groups = b
        .wait_js(
            "the breakdown",
            &format!(
                "(g => g && g.dataset.by == '{by}' && [...g.querySelectorAll('[data-testid=funnel-group]')].map(x => x.dataset.value))(document.querySelector('[data-testid=funnel-groups]'))"
            ),
            WAIT,
        )
        .await;
    serde_json::from_value(groups).unwrap_or_default()
}
