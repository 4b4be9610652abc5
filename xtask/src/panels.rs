//! `cargo xtask panel-timings --collector URL --admin-key KEY [--site demo]
//! [--days 30] [--runs 3] [--funnel checkout]`: times every request the
//! dashboard makes for a range (one at a time, `--runs` times each; the
//! fastest and the median), then the dashboard's whole first load as the
//! browser sends it (all at once), and prints a Markdown table. Run it
//! against a collector on a seeded database (`cargo xtask seed`) to measure
//! issue 15's goals: every panel under 1 s, the whole dashboard under 2 s.
//! It measures; nothing is asserted.
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

struct Options {
    collector: String,
    key: String,
    site: String,
    days: u32,
    runs: usize,
    funnel: String,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        collector: String::new(),
        key: std::env::var("KTRA_ADMIN_KEY").unwrap_or_default(),
        site: "demo".into(),
        days: 30,
        runs: 3,
        funnel: "checkout".into(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut v = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--collector" => o.collector = v()?.trim_end_matches('/').to_string(),
            "--admin-key" => o.key = v()?.clone(),
            "--site" => o.site = v()?.clone(),
            "--days" => o.days = v()?.parse().context("--days")?,
            "--runs" => o.runs = v()?.parse().context("--runs")?,
            "--funnel" => o.funnel = v()?.clone(),
            other => bail!("unknown option {other}\nusage: cargo xtask panel-timings --collector URL --admin-key KEY [--site demo] [--days 30] [--runs 3] [--funnel checkout]"),
        }
    }
    if o.collector.is_empty() || o.key.is_empty() || o.runs == 0 || o.days == 0 {
        bail!("--collector, --admin-key (or KTRA_ADMIN_KEY), --runs ≥ 1 and --days ≥ 1 are required");
    }
    Ok(o)
}

/// `(label, path and query after /v1/stats/, part of the first load)`.
fn requests(o: &Options, from: u64, to: u64) -> Vec<(String, String, bool)> {
    let r = format!("site={}&from={from}&to={to}", o.site);
    let day = format!("site={}&from={}&to={to}", o.site, to - 86_400);
    let f = format!("funnel?{r}&funnel={}", o.funnel);
    // Every query of the library: the dashboard loads each one.
    let mut v: Vec<(String, String, bool)> =
        ktra_schema::queries::QUERIES.iter().map(|q| (q.name.to_string(), format!("{}?{r}", q.name), true)).collect();
    v.extend([
        ("traffic, compare=previous".into(), format!("traffic?{r}&compare=previous"), true),
        ("goals, compare=previous".into(), format!("goals?{r}&compare=previous"), true),
        ("retention".into(), format!("retention?{r}"), true),
        ("online".into(), format!("online?site={}", o.site), true),
        (format!("funnel {}", o.funnel), f.clone(), true),
        (format!("funnel {} by utm_campaign", o.funnel), format!("{f}&breakdown=utm_campaign"), false),
        (format!("funnel {} by message", o.funnel), format!("{f}&breakdown=message"), false),
        ("top_pages, filter=channel:email".into(), format!("top_pages?{r}&filter=channel:email"), false),
        ("traffic, last 24 hours (hourly)".into(), format!("traffic?{day}"), false),
    ]);
    v
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build(),
    )
}

/// Seconds and status of one request.
fn time(agent: &ureq::Agent, o: &Options, path: &str) -> (f64, u16) {
    let start = Instant::now();
    let status = match agent
        .get(format!("{}/v1/stats/{path}", o.collector))
        .header("Authorization", &format!("Bearer {}", o.key))
        .call()
    {
        Ok(mut r) => {
            let _ = r.body_mut().read_to_vec();
            r.status().as_u16()
        }
        Err(_) => 0,
    };
    (start.elapsed().as_secs_f64(), status)
}

/// Runs the timings and prints the table.
pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let to = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let from = to - u64::from(o.days) * 86_400;
    let reqs = requests(&o, from, to);
    let agent = agent();
    println!("| request | status | fastest s | median s | runs |");
    println!("| --- | --- | ---: | ---: | ---: |");
    let mut worst: f64 = 0.0;
    for (label, path, _) in &reqs {
        let mut times = Vec::with_capacity(o.runs);
        let mut status = 0;
        for _ in 0..o.runs {
            let (t, s) = time(&agent, &o, path);
            times.push(t);
            status = s;
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        worst = worst.max(median);
        println!("| {label} | {status} | {:.3} | {median:.3} | {} |", times[0], o.runs);
    }
    // The first load: every panel request at once, as the dashboard sends them.
    let first: Vec<String> = reqs.iter().filter(|r| r.2).map(|r| r.1.clone()).collect();
    let mut loads = Vec::with_capacity(o.runs);
    for _ in 0..o.runs {
        let start = Instant::now();
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = first.iter().map(|p| s.spawn(|| time(&agent, &o, p).1)).collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
        });
        let ok = statuses.iter().filter(|s| **s == 200).count();
        loads.push((start.elapsed().as_secs_f64(), ok));
    }
    loads.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, ok) = loads[loads.len() / 2];
    println!(
        "\nwhole first load ({} requests at once, as the dashboard sends them): fastest {:.3} s, median {median:.3} s ({ok}/{} answered 200); slowest single request's median {worst:.3} s",
        first.len(),
        loads[0].0,
        first.len()
    );
    Ok(())
}
