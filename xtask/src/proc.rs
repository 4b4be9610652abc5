//! Child processes that never outlive xtask.
//!
//! Every child runs in its own process group and is registered in a global
//! list. [`Guard`] stops the group when dropped (SIGTERM, then SIGKILL after
//! 10 s). A signal thread ([`install_signal_handler`]) does the same for every
//! registered group, newest first, on Ctrl-C, SIGTERM or SIGHUP and then exits,
//! so a server is never left behind whatever xtask was doing (a child in its
//! own group does not see the terminal's Ctrl-C itself; xtask decides the
//! order: the collector before ClickHouse).
//!
//! Output of a child can be forwarded line by line to our stdout while the
//! lines are also handed to the caller ([`Guard::take_lines`]), which is how
//! the test runner counts results and the demo learns the collector's URL.
use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(10);
/// How often a running child is polled.
const POLL: Duration = Duration::from_millis(50);

struct Entry {
    name: String,
    child: Child,
    /// Set once the group was stopped (or the child reaped and swept).
    done: bool,
}

type Shared = Arc<Mutex<Entry>>;

/// Registered children: (guard id, process group id, entry).
static REGISTRY: Mutex<Vec<(u64, i32, Shared)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Set (under the registry lock) once a signal started the shutdown.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// During a signal-driven shutdown the main thread must neither start new
/// children nor act on the ones being stopped: it waits for the exit.
fn park_if_shutting_down() {
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        park_forever();
    }
}

fn park_forever() -> ! {
    loop {
        thread::park();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A command with xtask's defaults: working directory `cwd`, no stdin, and
/// without the `CARGO_PKG_*`-style variables `cargo run` set for xtask itself
/// (they would describe xtask to nested cargo invocations and tests).
pub fn command(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A running child in its own process group; stopped when dropped.
pub struct Guard {
    id: u64,
    entry: Shared,
    lines: Option<Receiver<String>>,
}

/// Spawns `cmd` in its own process group under `name` (used in messages).
///
/// With `forward`, the child's stdout is piped, printed line by line to our
/// stdout and also made available through [`Guard::take_lines`].
pub fn spawn(name: &str, cmd: &mut Command, forward: bool) -> Result<Guard> {
    cmd.process_group(0);
    if forward {
        cmd.stdout(Stdio::piped());
    }
    let mut registry = lock(&REGISTRY);
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        drop(registry);
        park_forever();
    }
    let mut child = cmd.spawn().with_context(|| format!("could not start {name} ({:?})", cmd.get_program()))?;
    let lines = if forward {
        let stdout = child.stdout.take().context("child stdout was not piped")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
                let _ = tx.send(line);
            }
        });
        Some(rx)
    } else {
        None
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let pgid = i32::try_from(child.id()).context("pid out of range")?;
    let entry = Arc::new(Mutex::new(Entry { name: name.to_owned(), child, done: false }));
    registry.push((id, pgid, Arc::clone(&entry)));
    drop(registry);
    Ok(Guard { id, entry, lines })
}

impl Guard {
    /// The forwarded stdout lines (once), if spawned with `forward`.
    pub fn take_lines(&mut self) -> Option<Receiver<String>> {
        self.lines.take()
    }

    /// Exit status if the child has exited.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        park_if_shutting_down();
        let status = {
            let mut e = lock(&self.entry);
            let name = e.name.clone();
            e.child.try_wait().with_context(|| format!("waiting for {name}"))
        };
        // The signal thread may have stopped this child while we waited for the lock.
        park_if_shutting_down();
        status
    }

    /// Waits for the child to exit (polling, so a signal thread can still stop it).
    pub fn wait(&self) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            thread::sleep(POLL);
        }
    }

    /// Stops the process group now (idempotent).
    pub fn stop(&self) {
        stop(&mut lock(&self.entry));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
        lock(&REGISTRY).retain(|(id, _, _)| *id != self.id);
    }
}

fn signal_group(pid: i32, sig: Signal) {
    // ESRCH (no such group) is the normal case once everything has exited.
    let _ = killpg(Pid::from_raw(pid), sig);
}

fn stop(e: &mut Entry) {
    if e.done {
        return;
    }
    e.done = true;
    let Ok(pid) = i32::try_from(e.child.id()) else {
        return;
    };
    if let Ok(Some(_)) = e.child.try_wait() {
        // The leader is gone; sweep whatever it left in its group.
        signal_group(pid, Signal::SIGKILL);
        return;
    }
    signal_group(pid, Signal::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = e.child.try_wait() {
            signal_group(pid, Signal::SIGKILL);
            return;
        }
        thread::sleep(POLL);
    }
    eprintln!("xtask: {} did not stop within {}s, killing it", e.name, GRACE.as_secs());
    signal_group(pid, Signal::SIGKILL);
    let _ = e.child.wait();
}

/// Stops every registered child, newest first.
pub fn stop_all() {
    let entries: Vec<Shared> = {
        let registry = lock(&REGISTRY);
        SHUTTING_DOWN.store(true, Ordering::SeqCst);
        registry.iter().rev().map(|(_, _, e)| Arc::clone(e)).collect()
    };
    for entry in entries {
        let mut e = lock(&entry);
        if !e.done {
            eprintln!("xtask: stopping {}", e.name);
        }
        stop(&mut e);
    }
}

/// Starts the thread that turns SIGINT/SIGTERM/SIGHUP into an orderly stop
/// of every child followed by exit (130 for Ctrl-C, 143 for SIGTERM). A
/// second signal during that stop kills every group at once.
pub fn install_signal_handler() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    thread::spawn(move || {
        let mut first = true;
        for sig in signals.forever() {
            if !first {
                eprintln!("xtask: second signal, killing everything");
                for (_, pgid, _) in lock(&REGISTRY).iter() {
                    signal_group(*pgid, Signal::SIGKILL);
                }
                std::process::exit(128 + sig);
            }
            first = false;
            let name = if sig == SIGINT { "Ctrl-C" } else { "signal" };
            eprintln!("\nxtask: {name} received, shutting down");
            // Stop in another thread so that a second signal is still heard.
            thread::spawn(move || {
                stop_all();
                std::process::exit(128 + sig);
            });
        }
    });
    Ok(())
}

/// Runs `cmd` to completion in the foreground (output inherited) and fails
/// with `what` if it does not exit successfully.
pub fn run(what: &str, cmd: &mut Command) -> Result<()> {
    let status = spawn(what, cmd, false)?.wait()?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` to completion, forwarding its stdout and returning every line.
pub fn run_lines(what: &str, cmd: &mut Command) -> Result<(ExitStatus, Vec<String>)> {
    let mut guard = spawn(what, cmd, true)?;
    let rx = guard.take_lines().context("no output pipe")?;
    let status = guard.wait()?;
    drop(guard);
    // The forwarding thread ends at EOF, which comes once the whole group is gone.
    let lines: Vec<String> = rx.iter().collect();
    Ok((status, lines))
}

/// Runs a short query command (no process group) and returns its stdout, or
/// `None` when it cannot be run or fails.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
