//! Engagement time: how long the page was visible *and* in use.
//!
//! Each user input (pointer, key, touch, scroll) or the page becoming
//! visible opens or extends an active window of [`IDLE_MS`]; time is counted
//! while a window is open and the page is visible. A reader who stops
//! interacting stops counting after [`IDLE_MS`]; hiding the page stops it at
//! once. Reports are increments: each `engagement` event carries the time
//! since the previous report for the same page view.

/// How long one input keeps the visitor engaged.
pub const IDLE_MS: f64 = 30_000.0;

/// Engaged time of the current page view not yet reported.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Engage {
    start: f64,
    /// End of the open active window; 0 when none is open.
    end: f64,
    acc: f64,
}

impl Engage {
    /// The visitor did something at `now` (on a visible page).
    pub fn activity(&mut self, now: f64) {
        if self.end > 0.0 && now <= self.end {
            self.end = now + IDLE_MS;
            return;
        }
        self.pause(now);
        self.start = now;
        self.end = now + IDLE_MS;
    }

    /// The page was hidden at `now`: close the open window.
    pub fn pause(&mut self, now: f64) {
        if self.end > 0.0 {
            self.acc += (self.end.min(now) - self.start).max(0.0);
            self.end = 0.0;
        }
    }

    /// Milliseconds engaged since the last report, up to `now`; resets the
    /// count. An open window stays open (it goes on from `now`).
    pub fn take(&mut self, now: f64) -> u64 {
        let open = self.end > 0.0 && now <= self.end;
        let end = self.end;
        self.pause(now);
        if open {
            self.start = now;
            self.end = end;
        }
        let ms = self.acc as u64;
        self.acc = 0.0;
        ms.min(crate::wire::MAX_ENGAGED_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_active_visible_time() {
        let mut e = Engage::default();
        e.activity(0.0);
        e.activity(10_000.0);
        assert_eq!(e.take(20_000.0), 20_000, "still active");
        assert_eq!(e.take(25_000.0), 5_000, "increments since the last report");
        assert_eq!(e.take(100_000.0), 15_000, "idle after 30 s without input");
        assert_eq!(e.take(200_000.0), 0);
    }

    #[test]
    fn hiding_stops_the_clock() {
        let mut e = Engage::default();
        e.activity(0.0);
        e.pause(5_000.0);
        e.activity(60_000.0); // visible again
        e.pause(61_000.0);
        assert_eq!(e.take(90_000.0), 6_000);
    }

    #[test]
    fn separate_bursts_add_up() {
        let mut e = Engage::default();
        e.activity(0.0);
        e.activity(100_000.0);
        assert_eq!(e.take(110_000.0), 30_000 + 10_000);
    }

    #[test]
    fn never_reports_more_than_a_day() {
        let mut e = Engage::default();
        for i in 0..4000 {
            e.activity(f64::from(i) * 25_000.0);
        }
        assert_eq!(e.take(4000.0 * 25_000.0), crate::wire::MAX_ENGAGED_MS);
    }
}
