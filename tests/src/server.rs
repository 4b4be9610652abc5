//! Real processes for fault tests: a private ClickHouse server the test may
//! kill and restart (the shared launcher, `ktra-harness`, in a directory and
//! on ports of its own, so other tests are not disturbed), and the collector
//! binary the test may SIGKILL or SIGTERM.
use ktra_harness::ClickHouse;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private ClickHouse server whose directory is removed when dropped.
pub struct PrivateClickHouse(ClickHouse);

impl PrivateClickHouse {
    /// Starts a server in a fresh directory and waits until it answers.
    pub fn start(name: &str) -> Self {
        let dir = crate::fresh_dir(&format!("ch-{name}"));
        Self(ClickHouse::start(dir, true).unwrap_or_else(|e| {
            panic!("private ClickHouse did not start (is it installed? run `cargo xtask test`): {e:#}")
        }))
    }

    /// Base URL.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Starts the server again on the same data and ports; waits until it answers.
    pub fn resume(&mut self) {
        self.0.restart().unwrap_or_else(|e| panic!("private ClickHouse did not restart: {e:#}"));
    }

    /// Stops the server (SIGKILL: the harshest outage) and waits for it to exit.
    pub fn stop(&mut self) {
        self.0.kill();
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.0.kill();
        let _ = std::fs::remove_dir_all(self.0.dir());
    }
}

/// The collector binary, built next to the test executables.
pub fn collector_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("ktra-collector");
    assert!(
        bin.exists(),
        "{} not found: build it first (`cargo build -p ktra-collector`; `cargo xtask test` does)",
        bin.display()
    );
    bin
}

/// The collector as a child process.
pub struct CollectorProcess {
    pub url: String,
    child: Child,
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        // A failed test must not leave a collector running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl CollectorProcess {
    /// Starts `ktra-collector serve --config FILE` with `env`, waiting for its
    /// "listening on" line. Its log is appended to FILE with the extension `log`.
    pub fn start(config: &Path, env: &[(&str, String)]) -> Self {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(config.with_extension("log")).unwrap();
        let mut cmd = Command::new(collector_binary());
        cmd.arg("serve").arg("--config").arg(config).stdout(Stdio::piped()).stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("collector printed nothing").unwrap();
        let url =
            line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();
        std::thread::spawn(move || for _ in lines {});
        Self { url, child }
    }

    /// SIGKILL, no chance to flush.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit (up to 60 s); returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        match ktra_harness::terminate(&mut self.child, Duration::from_secs(60)) {
            Ok(Some(status)) => status.success(),
            // Still running (or unwaitable): Drop kills it.
            _ => false,
        }
    }
}
