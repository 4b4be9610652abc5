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
//!
//! `--cluster` runs the production shape instead of one server: ZooKeeper and
//! two ClickHouse shards (`ktra-harness`'s cluster, in `target/demo-cluster/`,
//! started empty every time), the schema applied `ON CLUSTER`, one collector
//! per shard with its own spool, and haproxy in front of them with
//! `trust_proxy` on; the printed collector URL is the load balancer's.
use crate::clickhouse::Server;
use crate::{cargo, install, proc, root, target_dir, web};
use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ktra_harness::{Balancer, ClickHouse, Cluster, Layout, CLUSTER};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const SITE_ID: &str = "demo";
const COLLECTOR_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the demo's events are stored.
enum Store {
    /// One private server (`target/clickhouse-demo`, data kept).
    Single(Server),
    /// ZooKeeper and two shards, one collector each.
    Cluster(Cluster<proc::Guard>),
}

impl Store {
    fn start(cluster: bool) -> Result<Self> {
        if !cluster {
            return Ok(Store::Single(Server::start("demo", false)?));
        }
        let dir = target_dir().join("demo-cluster/cluster");
        let spawner = |label: &str| {
            let label = label.to_owned();
            move |cmd: &mut std::process::Command| proc::spawn(&label, cmd, false)
        };
        Ok(Store::Cluster(Cluster::start_with(dir, Layout::TwoShards, spawner)?))
    }

    /// One ClickHouse URL per collector.
    fn urls(&self) -> Vec<String> {
        match self {
            Store::Single(server) => vec![server.url()],
            Store::Cluster(cluster) => cluster.nodes.iter().map(|n| n.url()).collect(),
        }
    }

    /// Fails once a server has exited.
    fn check(&self) -> Result<()> {
        let servers: Vec<&ClickHouse<proc::Guard>> = match self {
            Store::Single(server) => vec![&**server],
            Store::Cluster(cluster) => cluster.nodes.iter().collect(),
        };
        for server in servers {
            if let Some(status) = server.exited()? {
                bail!("ClickHouse exited ({status})\n{}", server.log_tail());
            }
        }
        Ok(())
    }

    fn print(&self) {
        for (i, url) in self.urls().iter().enumerate() {
            let what = if matches!(self, Store::Single(_)) { String::new() } else { format!(" (shard {})", i + 1) };
            println!("clickhouse  {url}  (database ktra){what}");
        }
    }

    /// The native port of the server to query.
    fn tcp_port(&self) -> u16 {
        match self {
            Store::Single(server) => server.tcp_port,
            Store::Cluster(cluster) => cluster.nodes[0].tcp_port,
        }
    }
}

/// The demo config for the cluster: the committed one with `clickhouse.cluster`
/// set and `trust_proxy` on (the collectors sit behind haproxy).
fn cluster_config(demo_config: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(demo_config).with_context(|| format!("reading {}", demo_config.display()))?;
    if text.contains("\ncluster") || text.contains("trust_proxy") || !text.contains("\n[clickhouse]\n") {
        bail!("{} changed shape: set clickhouse.cluster and trust_proxy for --cluster by hand", demo_config.display());
    }
    let text = format!("trust_proxy = true\n{}", text).replacen(
        "\n[clickhouse]\n",
        &format!("\n[clickhouse]\ncluster = \"{CLUSTER}\"\n"),
        1,
    );
    let dir = target_dir().join("demo-cluster");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("ktra.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Runs the demo until Ctrl-C (handled by [`proc`]) or until a server dies;
/// `cluster`: on ZooKeeper, two shards and two collectors behind haproxy.
pub fn run(cluster: bool) -> Result<()> {
    install::ensure(if cluster { install::Needs::DEMO_CLUSTER } else { install::Needs::DEMO })?;
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
    let config = if cluster { cluster_config(&config)? } else { config };

    let store = Store::start(cluster)?;
    let admin_key = persistent_secret("demo-admin-key", 16)?;
    let secret = persistent_secret("demo-secret", 32)?;
    let spools: Vec<PathBuf> = match cluster {
        false => vec![target_dir().join("demo-spool")],
        true => (1..=2).map(|i| target_dir().join(format!("demo-cluster/spool{i}"))).collect(),
    };
    for spool in &spools {
        std::fs::create_dir_all(spool).with_context(|| format!("creating {}", spool.display()))?;
    }

    // Bind the demo site first: its origin goes into the collector's config.
    let site_listener = TcpListener::bind("127.0.0.1:0").context("binding the demo site port")?;
    let site_url = format!("http://{}", site_listener.local_addr()?);
    let free_8080 = !cluster && TcpListener::bind("127.0.0.1:8080").is_ok();
    let listen = if free_8080 { "127.0.0.1:8080" } else { "127.0.0.1:0" };

    // Collector `i` writes to server `i` (a cluster's shard) and spools to `spools[i]`.
    let urls = store.urls();
    let env_for = |i: usize, cmd: &mut std::process::Command| {
        cmd.env("KTRA_CLICKHOUSE_URL", &urls[i])
            .env("KTRA_CLICKHOUSE_DATABASE", "ktra")
            .env("KTRA_ASSETS_DIR", &web_dir)
            .env("KTRA_SPOOL_DIR", &spools[i])
            .env("KTRA_ADMIN_KEY", &admin_key)
            .env("KTRA_SECRET", &secret)
            .env(format!("KTRA_SITE_{}_ORIGINS", SITE_ID.to_uppercase()), &site_url);
        // Real GeoIP data (DB-IP lite, from npm) for countries and regional consent.
        if install::geoip_city().is_file() {
            cmd.env("KTRA_GEOIP_PATH", install::geoip_city());
        }
    };
    let env = |cmd: &mut std::process::Command| env_for(0, cmd);
    let mut migrate = proc::command(&bin, &root);
    migrate.arg("migrate").arg("--config").arg(&config);
    env(&mut migrate);
    proc::run("ktra-collector migrate", &mut migrate)?;
    // A month of sample traffic, once, so that a newcomer's dashboard is not empty.
    if !cluster {
        crate::seed::seed_if_empty(&urls[0], "ktra", SITE_ID, 20_000)?;
    }

    let mut collectors = Vec::new();
    let mut collector_urls = Vec::new();
    for i in 0..urls.len() {
        let mut serve = proc::command(&bin, &root);
        serve.arg("serve").arg("--config").arg(&config).env("KTRA_LISTEN", listen);
        env_for(i, &mut serve);
        let name = if cluster { format!("collector {}", i + 1) } else { "collector".to_owned() };
        let mut collector = proc::spawn(&name, &mut serve, true)?;
        collector_urls.push(wait_for_listening(&mut collector)?);
        collectors.push(collector);
    }
    let balancer = match cluster {
        false => None,
        true => {
            let backends: Vec<String> =
                collector_urls.iter().map(|u| u.trim_start_matches("http://").to_owned()).collect();
            let dir = target_dir().join("demo-cluster/haproxy");
            Some(Balancer::start_with(dir, &backends, |cmd| proc::spawn("haproxy", cmd, false))?)
        }
    };
    let collector_url = balancer.as_ref().map_or_else(|| collector_urls[0].clone(), |b| b.url());
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
    println!("collector   {collector_url}{}", if cluster { "  (haproxy)" } else { "" });
    if cluster {
        for (i, url) in collector_urls.iter().enumerate() {
            println!("            {url}  (collector {}, shard {})", i + 1, i + 1);
        }
    }
    store.print();
    println!("demo site   {site_url}");
    println!("dashboard   {collector_url}/dashboard  (admin key: {admin_key})");
    println!();
    println!("query it:   clickhouse-client --host 127.0.0.1 --port {} --database ktra", store.tcp_port());
    println!("Ctrl-C stops everything.");

    loop {
        for collector in &collectors {
            if let Some(status) = collector.try_wait()? {
                bail!("a collector exited ({status})");
            }
        }
        store.check()?;
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
