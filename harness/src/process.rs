//! How the launcher sees the server process it started.
use anyhow::Result;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How long a plain child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// A started server process, supervised by whoever spawned it.
///
/// A plain [`Child`] is one (the tests use it); xtask passes its own
/// process-group guard, so that Ctrl-C stops the server in xtask's order.
pub trait Process: Send {
    /// The exit status once the process has exited.
    fn try_wait(&mut self) -> Result<Option<ExitStatus>>;
    /// Stops it (SIGTERM, SIGKILL after a grace period) and waits for the
    /// exit; does nothing once it has exited.
    fn stop(&mut self);
}

impl Process for Child {
    fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        Ok(Child::try_wait(self)?)
    }

    fn stop(&mut self) {
        if let Ok(None) = terminate(self, GRACE) {
            let _ = self.kill();
            let _ = self.wait();
        }
    }
}

/// Sends SIGTERM to `child` and waits up to `grace` for it to exit; returns
/// its status, or `None` if it is still running then (the caller decides
/// whether to kill it).
pub fn terminate(child: &mut Child, grace: Duration) -> Result<Option<ExitStatus>> {
    if let Some(status) = child.try_wait()? {
        return Ok(Some(status));
    }
    let pid = Pid::from_raw(i32::try_from(child.id())?);
    // ESRCH: it exited between the check and the signal; try_wait reaps it.
    let _ = kill(pid, Signal::SIGTERM);
    let until = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
