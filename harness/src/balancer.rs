//! A load balancer in front of collectors: Debian's `haproxy`, in the
//! foreground, with a config written for loopback backends. It spreads
//! requests round-robin, adds `X-Forwarded-For` (the collector's
//! `trust_proxy`), takes a backend out while its `/readyz` fails (queue or spool nearly full) and sends a
//! request refused on connect to the other one.
use crate::clickhouse::free_ports;
use crate::Process;
use anyhow::{bail, Context, Result};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HAPROXY: &str = "/usr/sbin/haproxy";

/// A running haproxy; stopped when dropped.
pub struct Balancer<P: Process = Child> {
    /// Its port on 127.0.0.1.
    pub port: u16,
    process: P,
}

impl Balancer<Child> {
    /// Starts haproxy as a plain child process; see [`Balancer::start_with`].
    pub fn start(dir: impl Into<PathBuf>, backends: &[String]) -> Result<Self> {
        Self::start_with(dir, backends, |cmd| Ok(cmd.spawn()?))
    }
}

impl<P: Process> Balancer<P> {
    /// Writes `haproxy.cfg` into `dir` for `backends` (`host:port` each),
    /// starts haproxy with `spawn` and waits until it accepts connections.
    pub fn start_with(
        dir: impl Into<PathBuf>,
        backends: &[String],
        spawn: impl FnOnce(&mut Command) -> Result<P>,
    ) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if !Path::new(HAPROXY).exists() {
            bail!("{HAPROXY} not found: install Debian's `haproxy` package (`cargo xtask setup`)");
        }
        let port = free_ports(1)?[0];
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config(port, backends)).context("writing haproxy.cfg")?;
        let log = std::fs::File::create(dir.join("haproxy.log"))?;
        let mut cmd = Command::new(HAPROXY);
        // -db: foreground, no daemon; -f: our config only.
        cmd.arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        let mut process = spawn(&mut cmd)?;
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = process.try_wait()? {
                let log = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
                bail!("haproxy exited during start ({status})\n{log}");
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("haproxy did not listen on {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Balancer { port, process })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl<P: Process> Drop for Balancer<P> {
    fn drop(&mut self) {
        self.process.stop();
    }
}

/// The haproxy config: HTTP mode, round robin, health checks on `/healthz`,
/// `X-Forwarded-For`, and a retry on another backend when one refuses.
fn config(port: u16, backends: &[String]) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, b)| format!("    server collector{} {b} check inter 500ms fall 2 rise 1\n", i + 1))
        .collect();
    format!(
        "# Written by ktra-harness: a load balancer in front of collectors.\n\
         global\n    maxconn 4096\n\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n\
         \x20   option forwardfor\n    option redispatch\n    retries 2\n\n\
         frontend ktra\n    bind 127.0.0.1:{port}\n    default_backend collectors\n\n\
         backend collectors\n    balance roundrobin\n    option httpchk GET /readyz\n{servers}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_every_backend_with_a_health_check() {
        let c = config(8080, &["127.0.0.1:1".into(), "127.0.0.1:2".into()]);
        assert!(c.contains("bind 127.0.0.1:8080"));
        assert!(c.contains("server collector1 127.0.0.1:1 check"));
        assert!(c.contains("server collector2 127.0.0.1:2 check"));
        assert!(c.contains("option forwardfor"));
    }
}
