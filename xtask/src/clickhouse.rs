//! A private ClickHouse server on loopback, owned by xtask.
//!
//! Everything lives under `target/clickhouse-<name>/`: `config.xml`,
//! `users.xml`, `data/`, `tmp/`, `log/`. Ports (HTTP, native TCP,
//! interserver) are picked free at every start; `--fresh` (the test run)
//! wipes the directory first, the demo keeps its data. The config format is
//! the one of Debian's 18.16 (`<yandex>` root), which current servers still
//! read. The system service and its `/var/lib/clickhouse` are never used.
use crate::{install, proc, target_dir};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running private server; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    guard: proc::Guard,
    /// HTTP port on 127.0.0.1.
    pub http_port: u16,
    /// Native protocol port on 127.0.0.1.
    pub tcp_port: u16,
    dir: PathBuf,
}

/// Whether `name` is usable as a directory suffix.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Picks `n` distinct free loopback ports (all bound at once, then released).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")).collect::<Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// How to start the server binary found on this machine.
fn server_command() -> Result<(PathBuf, Vec<&'static str>)> {
    for p in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Path::new(p).exists() {
            return Ok((p.into(), vec![]));
        }
    }
    if let Some(p) = install::find_in_path("clickhouse-server") {
        return Ok((p, vec![]));
    }
    // Current releases ship one `clickhouse` binary with subcommands.
    if let Some(p) = install::find_in_path("clickhouse") {
        return Ok((p, vec!["server"]));
    }
    bail!("no ClickHouse server binary found (run `cargo xtask setup --demo`)")
}

fn config_xml(dir: &Path, http: u16, tcp: u16, interserver: u16) -> String {
    let d = dir.display();
    format!(
        r#"<?xml version="1.0"?>
<!-- Written by cargo xtask for a private server; rewritten at every start. -->
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
<!-- Written by cargo xtask for a private server: one passwordless loopback user. -->
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

impl Server {
    /// Starts `target/clickhouse-<name>` (wiped first when `fresh`) and waits
    /// until it answers `/ping`.
    pub fn start(name: &str, fresh: bool) -> Result<Server> {
        let dir = target_dir().join(format!("clickhouse-{name}"));
        if fresh && dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("wiping {}", dir.display()))?;
        }
        for sub in ["data", "tmp", "user_files", "format_schemas", "log"] {
            std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating {}/{sub}", dir.display()))?;
        }
        let ports = free_ports(3)?;
        let (http_port, tcp_port) = (ports[0], ports[1]);
        let config = dir.join("config.xml");
        write(&config, &config_xml(&dir, http_port, tcp_port, ports[2]))?;
        write(&dir.join("users.xml"), USERS_XML)?;

        let (bin, pre) = server_command()?;
        let console_path = dir.join("log/console.log");
        let console =
            std::fs::File::create(&console_path).with_context(|| format!("creating {}", console_path.display()))?;
        let mut cmd = proc::command(&bin, &dir);
        cmd.args(pre)
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::from(console.try_clone()?))
            .stderr(Stdio::from(console));
        let guard = proc::spawn(&format!("ClickHouse ({name})"), &mut cmd, false)?;
        let server = Server { guard, http_port, tcp_port, dir };
        server.wait_ready()?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The server's directory under `target/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn wait_ready(&self) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.guard.try_wait()? {
                bail!("ClickHouse exited during start ({status})\n{}", self.log_tail());
            }
            if let Ok((200, body)) = http(self.http_port, "GET", "/ping", "") {
                if body == "Ok.\n" {
                    return Ok(());
                }
            }
            if start.elapsed() > START_TIMEOUT {
                bail!("ClickHouse did not answer /ping within {}s\n{}", START_TIMEOUT.as_secs(), self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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

    /// Runs one query over HTTP and returns the body, failing on a non-200 answer.
    pub fn query(&self, sql: &str) -> Result<String> {
        match http(self.http_port, "POST", "/", sql)? {
            (200, body) => Ok(body),
            (status, body) => bail!("ClickHouse answered {status} to `{sql}`: {}", body.trim()),
        }
    }

    /// Whether the server process has exited (with its status).
    pub fn exited(&self) -> Result<Option<std::process::ExitStatus>> {
        self.guard.try_wait()
    }

    /// Stops the server now (also done on drop).
    pub fn stop(self) {
        self.guard.stop();
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A minimal HTTP/1.0 exchange with 127.0.0.1:`port` (no client crate needed
/// for a ping and a version query). Returns status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP answer")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `cargo xtask clickhouse`: run a private server until Ctrl-C.
pub fn foreground(name: &str, fresh: bool) -> Result<()> {
    let server = Server::start(name, fresh)?;
    let version = server.query("SELECT version()")?;
    println!("clickhouse  {}  (version {}, native port {})", server.url(), version.trim(), server.tcp_port);
    println!("data        {}", server.dir().display());
    println!("try         curl '{}/?query=SELECT%20version()'", server.url());
    println!("Ctrl-C stops it.");
    loop {
        if let Some(status) = server.exited()? {
            bail!("ClickHouse exited ({status})\n{}", server.log_tail());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
