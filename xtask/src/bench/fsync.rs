//! The collector's spool fsyncs over one phase, from its own histogram
//! (`ktra_spool_fsync_seconds` on `/metrics`, read before and after): disk
//! mode answers a request only after its group commit's fsync, so their
//! duration is the floor under its latency (issue 18's p99 target).
use std::time::Duration;

/// Cumulative bucket counts (upper bound in seconds, count), `_sum` and `_count`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, `+Inf` as `f64::INFINITY`.
    pub buckets: Vec<(f64, f64)>,
    /// Seconds summed.
    pub sum: f64,
    /// Observations.
    pub count: f64,
}

const NAME: &str = "ktra_spool_fsync_seconds";

/// Parses the histogram out of a Prometheus text page (empty if absent).
pub fn parse(text: &str) -> Histogram {
    let mut h = Histogram::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(NAME) else { continue };
        let value = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        if let Some(le) = rest.strip_prefix("_bucket{le=\"").and_then(|r| r.split('"').next()) {
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
            h.buckets.push((le, value));
        } else if rest.starts_with("_sum") {
            h.sum = value;
        } else if rest.starts_with("_count") {
            h.count = value;
        }
    }
    h
}

/// Reads the collector's histogram at `addr` (the admin key opens `/metrics`).
pub fn scrape(addr: &str, admin_key: &str) -> Option<Histogram> {
    let config = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build();
    let agent = ureq::Agent::new_with_config(config);
    let mut r = agent
        .get(format!("http://{addr}/metrics"))
        .header("authorization", format!("Bearer {admin_key}"))
        .call()
        .ok()?;
    Some(parse(&r.body_mut().read_to_string().ok()?))
}

/// What happened between two scrapes: fsyncs, their mean, and the bucket
/// bounds under which half and 99 % of them finished (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Fsyncs.
    pub count: f64,
    /// Mean duration, ms.
    pub mean_ms: f64,
    /// Upper bound of the bucket holding the median, ms.
    pub p50_le_ms: f64,
    /// Upper bound of the bucket holding the 99th percentile, ms.
    pub p99_le_ms: f64,
}

/// The difference `after - before`, if any fsync happened.
pub fn window(before: &Histogram, after: &Histogram) -> Option<Window> {
    let count = after.count - before.count;
    if count <= 0.0 {
        return None;
    }
    let at = |le: f64, h: &Histogram| h.buckets.iter().find(|(l, _)| *l == le).map_or(0.0, |b| b.1);
    let quantile = |q: f64| {
        after.buckets.iter().find(|(le, n)| n - at(*le, before) >= q * count).map_or(f64::INFINITY, |b| b.0 * 1000.0)
    };
    Some(Window {
        count,
        mean_ms: (after.sum - before.sum) * 1000.0 / count,
        p50_le_ms: quantile(0.5),
        p99_le_ms: quantile(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_difference_of_two_scrapes() {
        let page = |b: [f64; 4], sum: f64| {
            format!(
                "# TYPE {NAME} histogram\n{NAME}_bucket{{le=\"0.001\"}} {}\n{NAME}_bucket{{le=\"0.005\"}} {}\n\
                 {NAME}_bucket{{le=\"0.01\"}} {}\n{NAME}_bucket{{le=\"+Inf\"}} {}\n{NAME}_sum {sum}\n{NAME}_count {}\nother 1\n",
                b[0], b[1], b[2], b[3], b[3]
            )
        };
        let before = parse(&page([10.0, 10.0, 10.0, 10.0], 0.005));
        assert_eq!(before.count, 10.0);
        let after = parse(&page([10.0, 60.0, 109.0, 110.0], 0.5));
        let w = window(&before, &after).unwrap();
        assert_eq!(w.count, 100.0);
        assert!((w.mean_ms - 4.95).abs() < 1e-9);
        assert_eq!((w.p50_le_ms, w.p99_le_ms), (5.0, 10.0));
        assert_eq!(window(&after, &after), None);
    }
}
