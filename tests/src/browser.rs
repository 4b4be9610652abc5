//! Real headless Chromium for end-to-end tests, driven over WebDriver
//! (Debian's chromedriver, with the fantoccini client), and a static server
//! for the test pages in `tests/pages/`. What is ours is how Chromium is
//! started (flags, profile, viewport), chromedriver's lifecycle, and
//! helpers that wait with a message saying what was awaited.
//!
//! The pages are served from `http://localhost:PORT` while the collector
//! runs on `http://127.0.0.1:PORT2`: two sites, as for a real site owner
//! embedding the collector's script, so cookies, CORS and origins behave as
//! in production. Every `{{NAME}}` in an HTML page is replaced by the value
//! set with [`PageServer::set`] (`COLLECTOR`, `SITE`, …). Another root (the
//! demo shop, `web-demo/site/`) is served with [`PageServer::start_in`] and
//! [`Stack::start_in`]; [`PageServer::put`] serves a file from memory (for
//! example an `inbox.json` made for the test) in place of the one on disk.
//!
//! Network evidence comes from the page (`performance` resource entries)
//! and from the collector's own `/metrics` (asset and event counters). The
//! asset counters are per process, not per site, so browser tests take
//! [`exclusive`] first: one browser test at a time in a test binary (two
//! Chromiums on two cores would also only slow each other down).
pub use crate::pages::{demo_site_dir, test_pages_dir, PageServer};
use base64::Engine as _;
use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::elements::ElementRef;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

/// The user agent Chromium announces: a normal desktop Chrome on Linux
/// (HeadlessChrome is flagged as a bot by the collector).
pub const DESKTOP_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36";
/// Window size, also the size of screenshots.
pub const WINDOW: (u32, u32) = (1200, 800);
/// How a script's result names an element (W3C WebDriver).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serializes the browser tests of one test binary (see the module docs).
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// The built web assets (`cargo xtask build-web`), from `KTRA_WEB_DIR`.
pub fn web_dir() -> PathBuf {
    let dir = std::env::var_os("KTRA_WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("KTRA_WEB_DIR is not set: run cargo xtask build-web, then the tests with KTRA_WEB_DIR=<abs path of target/web> (cargo xtask test sets it)"));
    for f in ["ktra.js", "banner.js", "banner.css", "pixel/ktra_pixel.js", "pixel/ktra_pixel_bg.wasm"] {
        assert!(dir.join(f).is_file(), "{} is missing: run cargo xtask build-web", dir.join(f).display());
    }
    dir
}

/// `target/screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout`
/// saying what was awaited.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---- the browser -------------------------------------------------------------

/// Keys for [`Browser::press`].
pub use fantoccini::key::Key;

/// An element of the page, from [`Browser::find`] or [`Browser::element_by_js`].
pub use fantoccini::elements::Element;

/// One resource the page requested, from `performance.getEntriesByType('resource')`.
#[derive(Debug, Clone)]
pub struct Resource {
    pub url: String,
    pub initiator: String,
    /// `performance.now()` time the request started.
    pub start: f64,
}

/// A session command fantoccini has no method for: chromedriver's
/// `se/log`, and an element property as JSON (fantoccini's `prop` makes
/// it a string). `path` follows `/session/{id}/`.
#[derive(Debug)]
struct SessionCmd {
    /// `http::Method`, which reqwest re-exports.
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCmd {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/{}", session.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(Value::to_string))
    }
}

/// The result of a WebDriver command, or a panic saying which one failed.
#[track_caller]
fn must<T>(what: impl std::fmt::Display, r: Result<T, CmdError>) -> T {
    r.unwrap_or_else(|e| panic!("WebDriver {what}: {e}"))
}

/// Headless Chromium behind its own chromedriver, driven with fantoccini;
/// both (and every Chromium process) are ended on drop.
pub struct Browser {
    client: Client,
    /// `http://127.0.0.1:PORT/`: chromedriver.
    driver_url: String,
    session: String,
    /// Dropped after the session is closed.
    _driver: Driver,
}

/// chromedriver in a process group of its own, and the profile directory:
/// on drop the group is killed and the directory removed.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    /// Starts chromedriver on a free port and a Chromium session with a fresh profile.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium switches (e.g. `--host-resolver-rules=…`).
    pub async fn start_with(extra_args: &[String]) -> Self {
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chrome_bin = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(Path::new(&driver_bin).exists(), "chromedriver not found at {driver_bin} (set CHROMEDRIVER)");
        let profile = crate::fresh_dir("chromium");
        let port = free_port();
        let mut cmd = Command::new(&driver_bin);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", profile.join("chromedriver.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: Chromium's processes join it, and drop ends the group.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {driver_bin}: {e}"));
        // From here on, a panic still ends chromedriver (drop of `driver`).
        let driver = Driver { child, profile };
        let driver_url = format!("http://127.0.0.1:{port}/");
        let status = format!("{driver_url}status");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        wait_until("chromedriver to be ready", Duration::from_secs(15), || async {
            let v: Value = http.get(&status).send().await.ok()?.json().await.ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        })
        .await;
        let data_dir = driver.profile.join("data");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--mute-audio".into(),
            format!("--user-data-dir={}", data_dir.display()),
            format!("--user-agent={DESKTOP_UA}"),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ]
        .into_iter()
        .chain(extra_args.iter().cloned())
        .collect::<Vec<String>>();
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"script": 30_000, "pageLoad": 30_000, "implicit": 0},
            "goog:chromeOptions": {"binary": chrome_bin, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session from {driver_bin} with {chrome_bin}: {e}"));
        let session = must("session id", client.session_id().await).unwrap_or_default();
        let b = Self { client, driver_url, session, _driver: driver };
        // --window-size includes the (headless) window frame: make the viewport itself WINDOW.
        let inner = b.js("return [innerWidth, innerHeight]", vec![]).await;
        let (w, h) = (inner[0].as_u64().unwrap_or(0), inner[1].as_u64().unwrap_or(0));
        if (w, h) != (u64::from(WINDOW.0), u64::from(WINDOW.1)) && w > 0 {
            let (_, _, width, height) = must("window rect", b.client.get_window_rect().await);
            let width = width + u64::from(WINDOW.0) - w;
            let height = height + u64::from(WINDOW.1) - h;
            must(
                "set window size",
                b.client.set_window_size(width.try_into().unwrap(), height.try_into().unwrap()).await,
            );
        }
        b
    }

    async fn session_cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, CmdError> {
        self.client.issue_cmd(SessionCmd { method, path: path.to_string(), body }).await
    }

    /// Loads `url` and waits for its `load` event.
    pub async fn goto(&self, url: &str) {
        must(format_args!("goto {url}"), self.client.goto(url).await);
    }

    /// Reloads the page.
    pub async fn refresh(&self) {
        must("refresh", self.client.refresh().await);
    }

    /// The address bar.
    pub async fn current_url(&self) -> String {
        must("current url", self.client.current_url().await).into()
    }

    /// Runs a function body in the page (`arguments` holds `args`) and returns its result.
    pub async fn js(&self, body: &str, args: Vec<Value>) -> Value {
        must(format_args!("script {body}"), self.client.execute(body, args).await)
    }

    /// Like [`Self::js`] but an error is returned, not a panic (a page being left).
    pub async fn try_js(&self, body: &str) -> Result<Value, String> {
        self.client.execute(body, vec![]).await.map_err(|e| format!("WebDriver script: {e}"))
    }

    /// Runs an async function body; it finishes by calling `arguments[arguments.length - 1](result)`.
    pub async fn js_async(&self, body: &str, args: Vec<Value>) -> Value {
        must(format_args!("async script {body}"), self.client.execute_async(body, args).await)
    }

    /// Polls the expression `expr` in the page until it is truthy; returns its value.
    pub async fn wait_js(&self, what: &str, expr: &str, timeout: Duration) -> Value {
        let body = format!("try {{ const v = ({expr}); return v ? v : null; }} catch (e) {{ return null; }}");
        wait_until(what, timeout, || async {
            let v = self.try_js(&body).await.ok()?;
            (!v.is_null()).then_some(v)
        })
        .await
    }

    /// The element matching `css` in the document.
    pub async fn find(&self, css: &str) -> Element {
        must(format_args!("find {css}"), self.client.find(Locator::Css(css)).await)
    }

    /// The element a script returns (e.g. one inside a shadow root).
    pub async fn element_by_js(&self, body: &str) -> Element {
        let v = self.js(body, vec![]).await;
        let id = v.get(ELEMENT_KEY).and_then(Value::as_str);
        let id = id.unwrap_or_else(|| panic!("the script returned no element: {v}\n{body}"));
        Element::from_element_id(self.client.clone(), ElementRef::from(id.to_string()))
    }

    /// Clicks an element as a user would (scrolled into view, real pointer events).
    pub async fn click(&self, el: &Element) {
        must("click", el.click().await);
    }

    /// Types `text` into an element.
    pub async fn type_into(&self, el: &Element, text: &str) {
        must("type", el.send_keys(text).await);
    }

    /// A DOM property of an element (`href`, `value`, `checked`, …).
    pub async fn property(&self, el: &Element, name: &str) -> Value {
        let path = format!("element/{}/property/{name}", el.element_id());
        must(&path, self.session_cmd(reqwest::Method::GET, &path, None).await)
    }

    /// Empties an input or textarea.
    pub async fn clear(&self, el: &Element) {
        must("clear", el.clear().await);
    }

    /// Presses and releases a key on whatever has the focus.
    pub async fn press(&self, key: Key) {
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        must(format_args!("press {key:?}"), self.client.perform_actions(keys).await);
    }

    /// What has the focus, looking through shadow roots: the element's
    /// `data-a`, else `#id`, else its tag name, else an empty string.
    pub async fn focused(&self) -> String {
        let v = self
            .js(
                "let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;\
                 return !a ? '' : a.getAttribute('data-a') || (a.id ? '#' + a.id : a.tagName.toLowerCase());",
                vec![],
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Cookies of the current page as WebDriver sees them (also HttpOnly ones), name → value.
    pub async fn cookies(&self) -> Vec<(String, String)> {
        let all = must("cookies", self.client.get_all_cookies().await);
        all.iter().map(|c| (c.name().to_string(), c.value().to_string())).collect()
    }

    /// One cookie of the current page (WebDriver view), if set.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().await.into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// `document.cookie`: what page scripts see.
    pub async fn document_cookie(&self) -> String {
        self.js("return document.cookie", vec![]).await.as_str().unwrap_or_default().to_string()
    }

    /// Every resource the current page requested so far.
    pub async fn resources(&self) -> Vec<Resource> {
        let v = self
            .js(
                "return performance.getEntriesByType('resource').map(e => [e.name, e.initiatorType, e.startTime])",
                vec![],
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| Resource {
                        url: e[0].as_str().unwrap_or("").to_string(),
                        initiator: e[1].as_str().unwrap_or("").to_string(),
                        start: e[2].as_f64().unwrap_or(0.0),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The page's resource URLs containing `part`.
    pub async fn requested(&self, part: &str) -> Vec<String> {
        self.resources().await.into_iter().filter(|r| r.url.contains(part)).map(|r| r.url).collect()
    }

    /// `performance.now()` in the page.
    pub async fn now(&self) -> f64 {
        self.js("return performance.now()", vec![]).await.as_f64().unwrap_or(0.0)
    }

    /// A PNG of the viewport.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        must("screenshot", self.client.screenshot().await)
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.screenshot_png().await;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        let path = path.canonicalize().unwrap_or(path);
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// The browser console since the last call (for failure messages).
    pub async fn console(&self) -> Vec<String> {
        match self.session_cmd(reqwest::Method::POST, "se/log", Some(json!({"type": "browser"}))).await {
            Ok(Value::Array(a)) => a
                .iter()
                .map(|e| format!("{} {}", e["level"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask chromedriver to close Chromium before `driver` ends the process
        // group. On a thread with a runtime of its own: drop may run outside
        // a runtime, or inside the test's, which is blocked here, so the
        // session task of `client` cannot run.
        let (url, id) = (self.driver_url.clone(), self.session.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let session = Client::with_existing_session(&url, &id, HttpConnector::new()).await.ok()?;
                tokio::time::timeout(Duration::from_secs(10), session.close()).await.ok()?.ok()
            })
        })
        .join();
    }
}

// ---- the consent cookie -------------------------------------------------------

/// The payload of a `ktra_consent` value (`<base64url payload>.<signature>`)
/// and whether it carries a signature.
pub fn decode_consent(cookie: &str) -> (Value, bool) {
    let (payload, sig) = cookie.split_once('.').unwrap_or((cookie, ""));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("ktra_consent payload is not base64url ({e}): {cookie}"));
    (
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("ktra_consent payload is not JSON ({e}): {cookie}")),
        !sig.is_empty(),
    )
}

pub use crate::stack::{Stack, BANNER_ROOT};
