//! xtask's private ClickHouse servers: the shared launcher
//! ([`ktra_harness::ClickHouse`]) with its data in `target/clickhouse-<name>/`
//! and its process supervised by [`proc`], so Ctrl-C stops it after the
//! collector. `--fresh` (the test run) wipes the directory first, the demo
//! keeps its data.
use crate::{proc, target_dir};
use anyhow::{bail, Result};
use ktra_harness::ClickHouse;
use std::process::ExitStatus;
use std::time::Duration;

/// A running private server; stopped (SIGTERM, then SIGKILL) when dropped.
/// Dereferences to the launcher for its ports, URL, queries and logs.
pub struct Server(ClickHouse<proc::Guard>);

impl ktra_harness::Process for proc::Guard {
    fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        proc::Guard::try_wait(self)
    }

    fn stop(&mut self) {
        proc::Guard::stop(self);
    }
}

/// Whether `name` is usable as a directory suffix.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Server {
    /// Starts `target/clickhouse-<name>` (wiped first when `fresh`) and waits
    /// until it answers `/ping`.
    pub fn start(name: &str, fresh: bool) -> Result<Server> {
        let label = format!("ClickHouse ({name})");
        let dir = target_dir().join(format!("clickhouse-{name}"));
        ClickHouse::start_with(dir, fresh, move |cmd| proc::spawn(&label, cmd, false)).map(Server)
    }

    /// Stops the server now (also done on drop).
    pub fn stop(self) {
        drop(self);
    }
}

impl std::ops::Deref for Server {
    type Target = ClickHouse<proc::Guard>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
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
