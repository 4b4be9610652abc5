//! Milestones reported once per page view: scroll depths and video marks.
//! A set of reached marks is a bit mask over the marks array. (How far the
//! page was scrolled is `Host::scrolled`.)

/// Play position in percent, or `None` when the duration is unknown or
/// infinite (live streams).
pub fn play_pct(current: f64, duration: f64) -> Option<u32> {
    (duration.is_finite() && duration > 0.0).then(|| (current.max(0.0) / duration * 100.0) as u32)
}

/// The marks of `marks` reached at `pct` that are not in `sent`, as a mask.
/// Passing several marks at once (a jump, or a page that fits the viewport)
/// reports each of them.
pub fn newly_reached(marks: &[u8], sent: u8, pct: u32) -> u8 {
    let mut new = 0;
    for (i, &m) in marks.iter().enumerate() {
        if pct >= u32::from(m) && sent & (1 << i) == 0 {
            new |= 1 << i;
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{SCROLL_DEPTHS, VIDEO_MARKS};

    fn depths(mask: u8) -> alloc::vec::Vec<u8> {
        SCROLL_DEPTHS.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, d)| *d).collect()
    }

    #[test]
    fn each_depth_once_and_jumps_report_all_passed() {
        let mut sent = 0;
        let n = newly_reached(&SCROLL_DEPTHS, sent, 20);
        assert_eq!(depths(n), [] as [u8; 0]);
        let n = newly_reached(&SCROLL_DEPTHS, sent, 55);
        assert_eq!(depths(n), [25, 50]);
        sent |= n;
        assert_eq!(newly_reached(&SCROLL_DEPTHS, sent, 60), 0, "no repeat");
        assert_eq!(newly_reached(&SCROLL_DEPTHS, sent, 30), 0, "scrolling back up");
        let n = newly_reached(&SCROLL_DEPTHS, sent, 100);
        assert_eq!(depths(n), [75, 90, 100]);
        sent |= n;
        assert_eq!(newly_reached(&SCROLL_DEPTHS, sent, 100), 0);
        // A page that fits the viewport (the host says 100) is read to the end on load.
        assert_eq!(depths(newly_reached(&SCROLL_DEPTHS, 0, 100)), SCROLL_DEPTHS);
    }

    #[test]
    fn video_marks() {
        assert_eq!(play_pct(30.0, 120.0), Some(25));
        assert_eq!(play_pct(10.0, f64::INFINITY), None);
        assert_eq!(play_pct(10.0, f64::NAN), None);
        assert_eq!(play_pct(0.0, 0.0), None);
        let mut sent = 0;
        let n = newly_reached(&VIDEO_MARKS, sent, play_pct(61.0, 120.0).unwrap());
        assert_eq!(n, 0b011, "25 and 50 after a seek past half");
        sent |= n;
        assert_eq!(newly_reached(&VIDEO_MARKS, sent, 55), 0);
        assert_eq!(newly_reached(&VIDEO_MARKS, sent, 99), 0b100);
    }
}
