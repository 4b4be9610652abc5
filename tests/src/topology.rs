//! The production shape on loopback, for the cluster tests: ZooKeeper and two
//! ClickHouse servers forming a cluster (`ktra-harness`'s [`Cluster`]), the
//! schema applied `ON CLUSTER` by `ktra-collector migrate`, two collector
//! processes (one per server, each with its own spool) and haproxy in front
//! of them. Everything is stopped when dropped; the directory is kept for
//! the logs.
use crate::server::{collector_binary, CollectorProcess};
use ktra_harness::{Balancer, Cluster, Layout, CLUSTER};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The site the cluster tests send to.
pub const SITE: &str = "cluster";
/// Its server-to-server key (REST hooks).
pub const SITE_KEY: &str = "cluster-site-key-0123456789abcdef-0123456789";

/// A collector's config file for the cluster (or a lone server, `cluster` empty).
pub fn collector_config(dir: &Path, ch_url: &str, cluster: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("ktra.toml");
    std::fs::write(
        &p,
        format!(
            r#"listen = "127.0.0.1:0"
secret = "cluster-test-secret-0123456789abcdef-0123456789"
admin_key = "{admin}"
trust_proxy = true
[clickhouse]
url = "{ch_url}"
database = "ktra"
cluster = "{cluster}"
migrate_on_start = false
batch_max_ms = 200
insert_timeout_ms = 3000
[spool]
durability = "disk"
dir = "{spool}"
segment_bytes = 65536
drain_secs = 15
[consent]
revocation_refresh_secs = 1
erasure_interval_secs = 1
[limits]
per_client_per_sec = 0
[webhooks]
allow_private_targets = true
[sites.{SITE}]
origins = []
api_keys = ["{SITE_KEY}"]
[sites.{SITE}.funnels.buy]
steps = [{{path = "/landing*"}}, {{event = "form_submit", form_id = "lead-form"}}, {{event = "purchase"}}]
window = "1d"
[sites.{SITE}.goals.lead]
event = "form_submit"
[sites.{SITE}.goals.buy]
event = "purchase"
"#,
            admin = crate::ADMIN_KEY,
            spool = dir.join("spool").display()
        ),
    )
    .unwrap();
    p
}

/// `ktra-collector migrate --config FILE`; panics with its output on failure.
pub fn migrate(config: &Path) {
    let out = Command::new(collector_binary()).arg("migrate").arg("--config").arg(config).output().unwrap();
    assert!(
        out.status.success(),
        "ktra-collector migrate failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cluster, two collectors and the load balancer.
pub struct Topology {
    /// haproxy; dropped first.
    pub balancer: Balancer,
    /// Collector `i` writes to `cluster.nodes[i]`.
    pub collectors: Vec<CollectorProcess>,
    /// ZooKeeper and the two servers.
    pub cluster: Cluster,
    /// Collector `i`'s config file.
    pub configs: Vec<PathBuf>,
    /// Where everything lives.
    pub dir: PathBuf,
}

impl Topology {
    /// Starts the cluster in `layout`, migrates it through node 1, starts a
    /// collector per node and the balancer.
    pub fn start(layout: Layout) -> Self {
        let dir = crate::fresh_dir(&format!("cluster-{}", layout.name()));
        let cluster = Cluster::start(dir.join("cluster"), layout)
            .unwrap_or_else(|e| panic!("the ClickHouse cluster did not start: {e:#}"));
        let configs: Vec<PathBuf> = cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| collector_config(&dir.join(format!("collector{}", i + 1)), &node.url(), CLUSTER))
            .collect();
        migrate(&configs[0]);
        let collectors: Vec<CollectorProcess> = configs.iter().map(|c| CollectorProcess::start(c, &[])).collect();
        let backends: Vec<String> =
            collectors.iter().map(|c| c.url.trim_start_matches("http://").to_string()).collect();
        let balancer =
            Balancer::start(dir.join("haproxy"), &backends).unwrap_or_else(|e| panic!("haproxy did not start: {e:#}"));
        Topology { balancer, collectors, cluster, configs, dir }
    }

    /// The load balancer's URL: where clients send.
    pub fn url(&self) -> String {
        self.balancer.url()
    }

    /// Node `i`'s HTTP URL.
    pub fn node_url(&self, i: usize) -> String {
        self.cluster.nodes[i].url()
    }
}

/// Runs `sql` in database `ktra` of the server at `url`; its text answer.
pub async fn sql(url: &str, sql: &str) -> anyhow::Result<String> {
    let r = reqwest::Client::new().post(format!("{url}/?database=ktra")).body(sql.to_string()).send().await?;
    let status = r.status();
    let text = r.text().await?;
    anyhow::ensure!(status.is_success(), "ClickHouse {status}: {}\nSQL: {sql}", text.trim());
    Ok(text)
}

/// A query answering one number.
pub async fn count(url: &str, query: &str) -> u64 {
    let text = sql(url, query).await.unwrap();
    text.trim().parse().unwrap_or_else(|_| panic!("not a number: {text:?} from {query}"))
}
