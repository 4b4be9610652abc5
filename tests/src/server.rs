//! Real processes for fault tests: a private ClickHouse server the test may
//! stop and start (its own data dir and ports, so other tests are not
//! disturbed), and the collector binary the test may SIGKILL or SIGTERM.
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn server_binary() -> (PathBuf, Vec<&'static str>) {
    for p in ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"] {
        if Path::new(p).exists() {
            return (p.into(), vec![]);
        }
    }
    ("clickhouse".into(), vec!["server"])
}

/// `GET /ping` answers `Ok.` (plain std: no HTTP client process needed).
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    (buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")) && buf.ends_with("Ok.\n")
}

/// A private ClickHouse server.
pub struct PrivateClickHouse {
    dir: PathBuf,
    pub http_port: u16,
    child: Option<Child>,
}

impl PrivateClickHouse {
    /// Writes a config under a fresh directory and starts the server.
    pub fn start(name: &str) -> Self {
        let dir = crate::fresh_dir(&format!("ch-{name}"));
        let (http, tcp, inter) = (free_port(), free_port(), free_port());
        let d = dir.display();
        std::fs::write(
            dir.join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><interserver_http_port>{inter}</interserver_http_port>
  <path>{d}/data/</path><tmp_path>{d}/data/tmp/</tmp_path>
  <user_files_path>{d}/data/user_files/</user_files_path><format_schema_path>{d}/data/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>134217728</mark_cache_size>
</yandex>
"#
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("users.xml"),
            r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#,
        )
        .unwrap();
        let mut s = Self { dir, http_port: http, child: None };
        s.resume();
        s
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Starts the server again on the same data and ports; waits until it answers.
    pub fn resume(&mut self) {
        let (bin, args) = server_binary();
        let child = Command::new(bin)
            .args(args)
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server (is it installed? run `cargo xtask test`)");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if ping(self.http_port) {
                return;
            }
            assert!(
                Instant::now() < until,
                "private ClickHouse did not start: {}",
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the server (SIGKILL: the harshest outage) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
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
    /// "listening on" line.
    pub fn start(config: &Path, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(collector_binary());
        cmd.arg("serve").arg("--config").arg(config).stdout(Stdio::piped()).stderr(Stdio::null());
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
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
