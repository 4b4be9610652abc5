//! `cargo xtask demo`: everything a site owner needs to see ktra work, on loopback.
//!
//! Order: installs (no Chromium, no chdb) → web assets → private ClickHouse
//! (`target/clickhouse-demo`, data kept) → `cargo build --release -p
//! ktra-collector` → `migrate` → `serve` → the static demo site
//! (`web-demo/site/`, served from here with `{{COLLECTOR}}` and `{{SITE}}`
//! filled into every HTML page). Ctrl-C stops the collector, then ClickHouse.
//!
//! The admin key and the token secret are generated once and kept in
//! `target/demo-admin-key` and `target/demo-secret`, so consent tokens and
//! dashboard logins survive restarts.
use crate::clickhouse::Server;
use crate::{cargo, install, proc, root, target_dir, web};
use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const SITE_ID: &str = "demo";
const COLLECTOR_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the demo until Ctrl-C (handled by [`proc`]) or until a server dies.
pub fn run() -> Result<()> {
    install::ensure(install::Needs::DEMO)?;
    let web_dir = web::build()?;
    web::print_sizes(&web_dir);

    let root = root();
    let config = root.join("collector/ktra.demo.toml");
    if !config.is_file() {
        bail!("{} is missing (the collector's committed demo config)", config.display());
    }
    proc::run(
        "cargo build --release -p ktra-collector",
        proc::command(cargo(), &root).args(["build", "--release", "-p", "ktra-collector"]),
    )?;
    let bin = target_dir().join("release/ktra-collector");

    let clickhouse = Server::start("demo", false)?;
    let admin_key = persistent_secret("demo-admin-key", 16)?;
    let secret = persistent_secret("demo-secret", 32)?;
    let spool = target_dir().join("demo-spool");
    std::fs::create_dir_all(&spool).with_context(|| format!("creating {}", spool.display()))?;

    // Bind the demo site first: its origin goes into the collector's config.
    let site_listener = TcpListener::bind("127.0.0.1:0").context("binding the demo site port")?;
    let site_url = format!("http://{}", site_listener.local_addr()?);
    let listen = if TcpListener::bind("127.0.0.1:8080").is_ok() { "127.0.0.1:8080" } else { "127.0.0.1:0" };

    let env = |cmd: &mut std::process::Command| {
        cmd.env("KTRA_CLICKHOUSE_URL", clickhouse.url())
            .env("KTRA_CLICKHOUSE_DATABASE", "ktra")
            .env("KTRA_ASSETS_DIR", &web_dir)
            .env("KTRA_SPOOL_DIR", &spool)
            .env("KTRA_ADMIN_KEY", &admin_key)
            .env("KTRA_SECRET", &secret)
            .env(format!("KTRA_SITE_{}_ORIGINS", SITE_ID.to_uppercase()), &site_url);
    };
    let mut migrate = proc::command(&bin, &root);
    migrate.arg("migrate").arg("--config").arg(&config);
    env(&mut migrate);
    proc::run("ktra-collector migrate", &mut migrate)?;

    let mut serve = proc::command(&bin, &root);
    serve.arg("serve").arg("--config").arg(&config).env("KTRA_LISTEN", listen);
    env(&mut serve);
    let mut collector = proc::spawn("collector", &mut serve, true)?;
    let collector_url = wait_for_listening(&mut collector)?;
    let sign = |site: &str, lead: &str, message: &str, url: &str| -> Result<serde_json::Value> {
        let mut cmd = proc::command(&bin, &root);
        cmd.args(["sign-link", "--config"]).arg(&config);
        cmd.args(["--site", site, "--lead", lead, "--message", message, "--url", url, "--base", &collector_url]);
        env(&mut cmd);
        let out = cmd.output().context("running ktra-collector sign-link")?;
        if !out.status.success() {
            bail!("sign-link failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        serde_json::from_slice(&out.stdout).context("sign-link printed no JSON")
    };
    write_inbox(&root.join("web-demo/site"), &site_url, sign)?;

    let site = Arc::new(Site { root: root.join("web-demo/site"), collector: collector_url.clone() });
    if !site.root.is_dir() {
        bail!("{} is missing (the demo shop site)", site.root.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    site_listener.set_nonblocking(true)?;
    let listener = runtime.block_on(async { tokio::net::TcpListener::from_std(site_listener) })?;
    let app = axum::Router::new().fallback(serve_site).with_state(site);
    let server = runtime.spawn(async move { axum::serve(listener, app).await });

    println!();
    println!("collector   {collector_url}");
    println!("clickhouse  {}  (database ktra)", clickhouse.url());
    println!("demo site   {site_url}");
    println!("dashboard   {collector_url}/dashboard  (admin key: {admin_key})");
    println!();
    println!("query it:   clickhouse-client --host 127.0.0.1 --port {} --database ktra", clickhouse.tcp_port);
    println!("Ctrl-C stops everything.");

    loop {
        if let Some(status) = collector.try_wait()? {
            bail!("the collector exited ({status})");
        }
        if let Some(status) = clickhouse.exited()? {
            bail!("ClickHouse exited ({status})\n{}", clickhouse.log_tail());
        }
        if server.is_finished() {
            bail!("the demo site server stopped");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes `web-demo/site/inbox.json` from `inbox.spec.json`: every link of
/// every sample email gets a real signed `click_url`, every message the
/// `open_url` of its first link, so the demo inbox behaves like a real one.
fn write_inbox(
    site_dir: &std::path::Path,
    site_url: &str,
    sign: impl Fn(&str, &str, &str, &str) -> Result<serde_json::Value>,
) -> Result<()> {
    let spec_path = site_dir.join("inbox.spec.json");
    let text = std::fs::read_to_string(&spec_path).with_context(|| format!("reading {}", spec_path.display()))?;
    let mut spec: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", spec_path.display()))?;
    let site = spec["site"].as_str().unwrap_or(SITE_ID).to_string();
    let Some(messages) = spec["messages"].as_array_mut() else { bail!("{} has no messages", spec_path.display()) };
    for m in messages {
        let (lead, message) =
            (m["lead"].as_str().unwrap_or("").to_string(), m["message"].as_str().unwrap_or("").to_string());
        let mut open_url = None;
        if let Some(links) = m["links"].as_array_mut() {
            for link in links {
                let path = link["path"].as_str().unwrap_or("/");
                let signed = sign(&site, &lead, &message, &format!("{site_url}{path}"))?;
                link["click_url"] = signed["click_url"].clone();
                open_url.get_or_insert_with(|| signed["open_url"].clone());
            }
        }
        if let Some(o) = open_url {
            m["open_url"] = o;
        }
    }
    let out = site_dir.join("inbox.json");
    std::fs::write(&out, serde_json::to_string_pretty(&spec)?).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Waits for the collector's `listening on http://IP:PORT` line.
fn wait_for_listening(collector: &mut proc::Guard) -> Result<String> {
    let lines = collector.take_lines().context("collector output not captured")?;
    let deadline = Instant::now() + COLLECTOR_START_TIMEOUT;
    loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let url = url.trim().to_owned();
                    // Keep forwarding the rest of its output.
                    std::thread::spawn(move || lines.iter().for_each(drop));
                    return Ok(url);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_millis(200));
                let status = collector.try_wait()?;
                bail!("the collector closed its output before `listening on …` (exit: {status:?})");
            }
        }
        if let Some(status) = collector.try_wait()? {
            bail!("the collector exited before it was listening ({status})");
        }
        if Instant::now() > deadline {
            bail!("the collector printed no `listening on …` line within {}s", COLLECTOR_START_TIMEOUT.as_secs());
        }
    }
}

/// A random hex secret of `bytes` bytes, created once under `target/NAME`.
fn persistent_secret(name: &str, bytes: usize) -> Result<String> {
    let path = target_dir().join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= bytes * 2 {
            return Ok(existing.to_owned());
        }
    }
    let mut buf = vec![0u8; bytes];
    use std::io::Read;
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).context("reading /dev/urandom")?;
    let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, format!("{hex}\n")).with_context(|| format!("writing {}", path.display()))?;
    Ok(hex)
}

struct Site {
    root: PathBuf,
    collector: String,
}

/// Serves `web-demo/site/`: HTML pages with placeholders filled, the rest as files.
async fn serve_site(State(site): State<Arc<Site>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|seg| seg == ".." || seg.contains('\\')) {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    }
    let mut file = site.root.join(rel);
    if file.is_dir() {
        if !path.ends_with('/') {
            return (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, format!("{path}/"))]).into_response();
        }
        file = file.join("index.html");
    }
    if is_html(&file) {
        if let Ok(text) = tokio::fs::read_to_string(&file).await {
            let html = text.replace("{{COLLECTOR}}", &site.collector).replace("{{SITE}}", SITE_ID);
            return ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
                .into_response();
        }
    }
    match tower_http::services::ServeDir::new(&site.root).oneshot(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(never) => match never {},
    }
}

fn is_html(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
}
