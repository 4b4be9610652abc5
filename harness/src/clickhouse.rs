//! A private ClickHouse server on loopback.
//!
//! Everything lives in one directory (xtask uses `target/clickhouse-<name>/`):
//! `config.xml`, `users.xml`, `data/`, `tmp/`, `log/`. Ports (HTTP, native
//! TCP, interserver) are picked free at every start and kept across a
//! [`ClickHouse::restart`]; `fresh` wipes the directory first. The config
//! format is the one of Debian's 18.16 (`<yandex>` root), which current
//! servers still read. The system service and its `/var/lib/clickhouse` are
//! never used.
use crate::Process;
use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a query may take to answer (and to send its answer).
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts the server process from the prepared command.
type Spawn<P> = Box<dyn FnMut(&mut Command) -> Result<P> + Send + Sync>;

/// A running private server; stopped when dropped (its data is kept).
pub struct ClickHouse<P: Process = Child> {
    /// HTTP port on 127.0.0.1.
    pub http_port: u16,
    /// Native protocol port on 127.0.0.1.
    pub tcp_port: u16,
    dir: PathBuf,
    spawn: Spawn<P>,
    process: Mutex<P>,
    http: ureq::Agent,
}

/// How one node of a cluster differs from a lone server.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// HTTP, native TCP and interserver ports, picked by the caller (the
    /// other nodes' config names them); free ones are picked when `None`.
    pub ports: Option<[u16; 3]>,
    /// Config elements added inside `<yandex>` (`<zookeeper>`, `<macros>`).
    pub extra_xml: String,
    /// Clusters added inside `<remote_servers>`, beside `ktra_local`.
    pub clusters_xml: String,
}

/// Picks `n` distinct free loopback ports (all bound at once, then released).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")).collect::<Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

impl ClickHouse<Child> {
    /// Starts a server in `dir` as a plain child process of this one and
    /// waits until it answers; see [`ClickHouse::start_with`].
    pub fn start(dir: impl Into<PathBuf>, fresh: bool) -> Result<Self> {
        Self::start_with(dir, fresh, |cmd| Ok(cmd.spawn()?))
    }

    /// SIGKILL, the harshest outage, and waits for the exit; data and ports
    /// are kept for [`ClickHouse::restart`].
    pub fn kill(&mut self) {
        let child = self.process.get_mut().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl<P: Process> ClickHouse<P> {
    /// Writes the config into `dir` (wiped first when `fresh`), starts the
    /// server with `spawn` and waits until it answers `/ping`.
    pub fn start_with(
        dir: impl Into<PathBuf>,
        fresh: bool,
        spawn: impl FnMut(&mut Command) -> Result<P> + Send + Sync + 'static,
    ) -> Result<Self> {
        Self::start_node(dir, fresh, &Node::default(), spawn)
    }

    /// [`ClickHouse::start_with`] for one node of a cluster: the ports its
    /// peers know it by and extra config (ZooKeeper, macros, clusters).
    pub fn start_node(
        dir: impl Into<PathBuf>,
        fresh: bool,
        node: &Node,
        mut spawn: impl FnMut(&mut Command) -> Result<P> + Send + Sync + 'static,
    ) -> Result<Self> {
        let dir = dir.into();
        if fresh && dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("wiping {}", dir.display()))?;
        }
        for sub in ["data", "tmp", "user_files", "format_schemas", "log"] {
            std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating {}/{sub}", dir.display()))?;
        }
        let ports = match node.ports {
            Some(ports) => ports.to_vec(),
            None => free_ports(3)?,
        };
        let (http_port, tcp_port) = (ports[0], ports[1]);
        let mut config = config_xml(&dir, http_port, tcp_port, ports[2]);
        // One element of each name: the server reads only the first.
        config = config
            .replace("    </remote_servers>", &format!("{}\n    </remote_servers>", node.clusters_xml))
            .replace("</yandex>", &format!("{}\n</yandex>", node.extra_xml));
        write(&dir.join("config.xml"), &config)?;
        write(&dir.join("users.xml"), USERS_XML)?;
        write(&dir.join("log/console.log"), "")?;

        let process = spawn(&mut command(&dir)?)?;
        let http = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                // Status codes are answers here (a 500 carries ClickHouse's message).
                .http_status_as_error(false)
                // A loopback server: no proxy from the environment, no pooled
                // connection left over from before a restart.
                .proxy(None)
                .max_idle_connections(0)
                .timeout_connect(Some(Duration::from_secs(5)))
                .timeout_recv_response(Some(QUERY_TIMEOUT))
                .timeout_recv_body(Some(QUERY_TIMEOUT))
                .build(),
        );
        let server =
            ClickHouse { http_port, tcp_port, dir, spawn: Box::new(spawn), process: Mutex::new(process), http };
        server.wait_ready()?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs one query over HTTP and returns the body, failing on a non-200 answer.
    pub fn query(&self, sql: &str) -> Result<String> {
        let mut answer = self.http.post(format!("{}/", self.url())).send(sql)?;
        let body = answer.body_mut().read_to_string()?;
        match answer.status().as_u16() {
            200 => Ok(body),
            status => bail!("ClickHouse answered {status} to `{sql}`: {}", body.trim()),
        }
    }

    /// Whether the server process has exited (with its status).
    pub fn exited(&self) -> Result<Option<ExitStatus>> {
        self.process.lock().unwrap_or_else(PoisonError::into_inner).try_wait()
    }

    /// Stops the server (SIGTERM, then SIGKILL; also done on drop); data and
    /// ports are kept for [`ClickHouse::restart`].
    pub fn stop(&mut self) {
        self.process.get_mut().unwrap_or_else(PoisonError::into_inner).stop();
    }

    /// Starts the server again on the same data and ports (stopping it first
    /// if it still runs) and waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let process = (self.spawn)(&mut command(&self.dir)?)?;
        *self.process.get_mut().unwrap_or_else(PoisonError::into_inner) = process;
        self.wait_ready()
    }

    fn wait_ready(&self) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited()? {
                bail!("ClickHouse exited during start ({status})\n{}", self.log_tail());
            }
            if self.ping() {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                bail!("ClickHouse did not answer /ping within {}s\n{}", START_TIMEOUT.as_secs(), self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /ping` answers `Ok.`.
    fn ping(&self) -> bool {
        let Ok(mut answer) = self.http.get(format!("{}/ping", self.url())).call() else { return false };
        answer.status() == 200 && answer.body_mut().read_to_string().is_ok_and(|body| body == "Ok.\n")
    }

    /// The last lines of the console output and the error log, for error messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for file in ["log/console.log", "log/clickhouse-server.err.log"] {
            let path = self.dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            out.push_str(&format!("--- {} (last {} lines)\n{}\n", path.display(), tail.len(), tail.join("\n")));
        }
        out
    }
}

impl<P: Process> Drop for ClickHouse<P> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server command for `dir`: its config, its directory as working
/// directory, console output appended to `log/console.log` (emptied at
/// start, kept across restarts).
fn command(dir: &Path) -> Result<Command> {
    let (bin, pre) = server_binary()?;
    let console_path = dir.join("log/console.log");
    let console = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&console_path)
        .with_context(|| format!("opening {}", console_path.display()))?;
    let mut cmd = Command::new(bin);
    cmd.args(pre)
        .arg(format!("--config-file={}", dir.join("config.xml").display()))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(console.try_clone()?))
        .stderr(Stdio::from(console));
    Ok(cmd)
}

/// How to start the server binary found on this machine.
fn server_binary() -> Result<(PathBuf, Vec<&'static str>)> {
    for p in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Path::new(p).exists() {
            return Ok((p.into(), vec![]));
        }
    }
    if let Some(p) = find_in_path("clickhouse-server") {
        return Ok((p, vec![]));
    }
    // Current releases ship one `clickhouse` binary with subcommands.
    if let Some(p) = find_in_path("clickhouse") {
        return Ok((p, vec!["server"]));
    }
    bail!("no ClickHouse server binary found (run `cargo xtask setup --demo`)")
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn config_xml(dir: &Path, http: u16, tcp: u16, interserver: u16) -> String {
    let d = dir.display();
    format!(
        r#"<?xml version="1.0"?>
<!-- Written by ktra-harness for a private server; rewritten at every start. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>{d}/log/clickhouse-server.log</log>
        <errorlog>{d}/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <interserver_http_port>{interserver}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <!-- A one-node cluster, so ON CLUSTER / Distributed DDL can be tried locally. -->
    <remote_servers>
        <ktra_local>
            <shard>
                <replica>
                    <host>127.0.0.1</host>
                    <port>{tcp}</port>
                </replica>
            </shard>
        </ktra_local>
    </remote_servers>
</yandex>
"#
    )
}

const USERS_XML: &str = r#"<?xml version="1.0"?>
<!-- Written by ktra-harness for a private server: one passwordless loopback user. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"#;
