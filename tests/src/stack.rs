//! The whole stack for one browser test: a fresh ClickHouse database, a
//! collector whose one site allows the page server's origin, the page
//! server and a headless Chromium ([`crate::browser::Browser`]), held one
//! test at a time ([`crate::browser::exclusive`]).
use crate::browser::{decode_consent, exclusive, wait_until, web_dir, Browser, Element, PageServer};
use crate::pages::test_pages_dir;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Shadow-root lookup of the banner, for scripts run in the page.
pub const BANNER_ROOT: &str = "document.querySelector('.ktra-root')?.shadowRoot";

/// ClickHouse database, collector, page server and browser for one test,
/// holding [`exclusive`] for its whole life.
pub struct Stack {
    pub ch: crate::Ch,
    pub collector: crate::TestCollector,
    pub pages: PageServer,
    pub browser: Browser,
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

impl Stack {
    /// A fresh database `ktra_t_<name>`, a collector whose one site (`name`)
    /// allows the page server's origin (and whose tracking links may point
    /// to it), the built assets, and a new browser.
    pub async fn start(name: &str, site: impl FnOnce(&mut ktra_collector::config::SiteConfig)) -> Self {
        Self::start_in(name, test_pages_dir(), site).await
    }

    /// [`Stack::start`] with the page server serving `pages_dir` (for
    /// example [`demo_site_dir`]) instead of `tests/pages/`.
    pub async fn start_in(
        name: &str,
        pages_dir: impl Into<PathBuf>,
        site: impl FnOnce(&mut ktra_collector::config::SiteConfig),
    ) -> Self {
        Self::start_with(name, pages_dir, |cfg, site_id| site(cfg.sites.get_mut(site_id).unwrap())).await
    }

    /// [`Stack::start_in`] with the whole collector config (and the site's id) through `config`.
    pub async fn start_with(
        name: &str,
        pages_dir: impl Into<PathBuf>,
        config: impl FnOnce(&mut ktra_collector::config::Config, &str),
    ) -> Self {
        let lock = exclusive().await;
        let assets = web_dir();
        let ch = crate::Ch::fresh(name).await;
        let pages = PageServer::start_in(pages_dir).await;
        let mut cfg = crate::test_config(&ch);
        cfg.assets_dir = Some(assets);
        // Webhook receivers of the tests listen on loopback.
        cfg.webhooks.allow_private_targets = true;
        let s = cfg.sites.get_mut(&ch.name).unwrap();
        s.origins = vec![pages.origin.clone()];
        s.hosts = vec!["localhost".into()];
        config(&mut cfg, &ch.name);
        let collector = crate::TestCollector::start(cfg).await;
        pages.set("COLLECTOR", &collector.url);
        pages.set("SITE", &collector.site);
        let browser = Browser::start().await;
        Self { ch, collector, pages, browser, _one_at_a_time: lock }
    }

    /// Replaces the collector by a new one (new port, new spool) whose site
    /// config went through `site`, and points the pages at it.
    pub async fn restart_collector(&mut self, site: impl FnOnce(&mut ktra_collector::config::SiteConfig)) {
        let mut cfg = self.collector.config.clone();
        cfg.spool.dir = crate::fresh_dir(&format!("spool-{}", self.ch.name));
        site(cfg.sites.get_mut(&self.ch.name).unwrap());
        let new = crate::TestCollector::start(cfg).await;
        std::mem::replace(&mut self.collector, new).stop().await;
        self.pages.set("COLLECTOR", &self.collector.url);
    }

    /// Requests for an asset kind the collector counted (this process, all collectors).
    pub async fn asset_requests(&self, kind: &str) -> f64 {
        crate::metric(&self.collector.metrics().await, "ktra_asset_requests_total", &[("asset", kind)])
    }

    /// Events of this test's site that reached the collector (accepted or refused).
    pub async fn events_received(&self) -> f64 {
        let m = self.collector.metrics().await;
        let site = [("site", self.collector.site.as_str())];
        crate::metric(&m, "ktra_accepted_events_total", &site) + crate::metric(&m, "ktra_rejected_events_total", &site)
    }

    /// Events of this site the collector accepted.
    pub async fn events_accepted(&self) -> f64 {
        crate::metric(
            &self.collector.metrics().await,
            "ktra_accepted_events_total",
            &[("site", self.collector.site.as_str())],
        )
    }

    /// Waits until the banner's dialog is shown (styled and visible).
    pub async fn banner_shown(&self) {
        self.browser
            .wait_js(
                "the consent banner to be shown",
                &format!("(r => r && getComputedStyle(r.host).display != 'none' && r.querySelector('[role=dialog]')?.getClientRects().length > 0)({BANNER_ROOT})"),
                Duration::from_secs(15),
            )
            .await;
    }

    /// Whether a dialog is open now.
    pub async fn banner_open(&self) -> bool {
        self.browser.js(&format!("return !!{BANNER_ROOT}?.querySelector('[role=dialog]')"), vec![]).await
            == Value::Bool(true)
    }

    /// An element of the banner (`css` inside its shadow root).
    pub async fn banner_el(&self, css: &str) -> Element {
        self.browser.element_by_js(&format!("return {BANNER_ROOT}.querySelector({})", json!(css))).await
    }

    /// Waits until the loader has the site config (so it decided whether to ask).
    pub async fn loader_ready(&self) {
        self.browser
            .wait_js(
                "the loader to fetch the site config",
                "window.ktra && ktra._ && ktra._.c",
                Duration::from_secs(15),
            )
            .await;
    }

    /// Waits until `ktra_consent` holds a signed token and returns its payload.
    pub async fn signed_consent(&self) -> (String, Value) {
        wait_until("a signed ktra_consent cookie", Duration::from_secs(15), || async {
            let c = self.browser.cookie("ktra_consent").await?;
            let (payload, signed) = decode_consent(&c);
            signed.then_some((c, payload))
        })
        .await
    }

    /// Waits for a cookie of the page; on timeout fails with the browser console.
    pub async fn wait_cookie(&self, name: &str) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.browser.cookie(name).await {
                return v;
            }
            if Instant::now() >= until {
                panic!("timed out waiting for the {name} cookie; browser console:\n{}", self.console().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The browser console since the last call, one entry a line.
    pub async fn console(&self) -> String {
        self.browser.console().await.join("\n")
    }
}
