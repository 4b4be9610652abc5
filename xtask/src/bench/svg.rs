//! The latency-vs-offered-load plot, written as a small standalone SVG (no
//! plotting dependency): one panel per request shape, x = offered load in
//! events/s (closed-loop saturation points at their achieved rate, drawn
//! hollow), both axes on log scales; p50 dashed, p99 solid, p99.9
//! dotted; one colour per system.
use std::fmt::Write;

/// One point: x (events/s), p50, p99, p99.9 (ms), and whether it is a saturation point.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// Offered (or, at saturation, achieved) events per second.
    pub x: f64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// 99.9th percentile, ms.
    pub p999: f64,
    /// Closed-loop saturation point.
    pub saturation: bool,
}

/// One system's points in a panel.
pub struct Series {
    /// Legend.
    pub name: String,
    /// Stroke colour.
    pub color: &'static str,
    /// Points, any order.
    pub points: Vec<Point>,
}

/// One panel.
pub struct Panel {
    /// Title.
    pub title: String,
    /// Series.
    pub series: Vec<Series>,
}

const W: f64 = 1180.0;
const H: f64 = 560.0;
const PANEL_W: f64 = 470.0;
const PANEL_H: f64 = 330.0;
const TOP: f64 = 80.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Renders the panels side by side.
pub fn render(title: &str, subtitle: &str, panels: &[Panel]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="16" font-weight="bold" text-anchor="middle">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    let _ = writeln!(s, r##"<text x="{}" y="40" fill="#555" text-anchor="middle">{}</text>"##, W / 2.0, esc(subtitle));
    for (i, p) in panels.iter().enumerate() {
        panel(&mut s, 80.0 + i as f64 * (PANEL_W + 110.0), p);
    }
    // Legend for line styles.
    let y = H - 14.0;
    let styles = [("p50", "6 4"), ("p99", ""), ("p99.9", "2 3")];
    for (i, (name, dash)) in styles.iter().enumerate() {
        let x = 70.0 + i as f64 * 110.0;
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="#333" stroke-width="2" stroke-dasharray="{dash}"/>"##,
            y - 4.0,
            x + 30.0,
            y - 4.0
        );
        let _ = writeln!(s, r#"<text x="{}" y="{y}">{name}</text>"#, x + 36.0);
    }
    let _ = writeln!(
        s,
        r##"<circle cx="420" cy="{}" r="4" fill="#fff" stroke="#333" stroke-width="2"/><text x="430" y="{y}">closed-loop saturation (x = achieved rate)</text>"##,
        y - 4.0
    );
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, x0: f64, p: &Panel) {
    let pts = p.series.iter().flat_map(|s| s.points.iter());
    let xs = pts.clone().map(|q| q.x).filter(|x| *x > 0.0);
    let xlo = 10f64.powf(xs.clone().fold(f64::INFINITY, f64::min).max(1.0).log10().floor());
    let xhi = 10f64.powf(xs.fold(1.0, f64::max).max(xlo * 10.0).log10().ceil());
    let (lxlo, lxhi) = (xlo.log10(), xhi.log10());
    let ymax_raw = pts.clone().map(|q| q.p999.max(q.p99)).fold(0.0, f64::max);
    let ymin_raw = pts.map(|q| q.p50).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let lo = if ymin_raw.is_finite() { 10f64.powf(ymin_raw.log10().floor()) } else { 0.01 };
    let hi = 10f64.powf(ymax_raw.max(lo * 10.0).log10().ceil());
    let (llo, lhi) = (lo.log10(), hi.log10());
    let sx = |x: f64| x0 + (x.max(xlo).log10() - lxlo) / (lxhi - lxlo) * PANEL_W;
    let sy = |y: f64| TOP + PANEL_H - (y.max(lo).log10() - llo) / (lhi - llo) * PANEL_H;
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"#,
        x0 + PANEL_W / 2.0,
        TOP - 8.0,
        esc(&p.title)
    );
    let _ =
        writeln!(s, r##"<rect x="{x0}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>"##);
    // Y grid: decades and 2x/5x.
    let mut d = lo;
    while d <= hi * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let v = d * m;
            if v > hi * 1.0001 {
                break;
            }
            let y = sy(v);
            let major = m == 1.0;
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{}" stroke-width="1"/>"##,
                x0 + PANEL_W,
                if major { "#ddd" } else { "#f0f0f0" }
            );
            let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#, x0 - 6.0, y + 4.0, fmt_ms(v));
        }
        d *= 10.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">latency (ms, log)</text>"#,
        x0 - 48.0,
        TOP + PANEL_H / 2.0,
        x0 - 48.0,
        TOP + PANEL_H / 2.0
    );
    // X grid: decades and 2x/5x.
    let mut d = xlo;
    while d <= xhi * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let v = d * m;
            if v > xhi * 1.0001 {
                break;
            }
            let x = sx(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="{}"/>"##,
                TOP + PANEL_H,
                if m == 1.0 { "#ddd" } else { "#f0f0f0" }
            );
            let _ = writeln!(
                s,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                TOP + PANEL_H + 16.0,
                fmt_rate(v)
            );
        }
        d *= 10.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">offered load (events/s, log)</text>"#,
        x0 + PANEL_W / 2.0,
        TOP + PANEL_H + 34.0
    );
    // Series.
    for (k, ser) in p.series.iter().enumerate() {
        let mut pts = ser.points.clone();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        for (sel, dash) in [(0usize, "6 4"), (1, ""), (2, "2 3")] {
            let val = |q: &Point| [q.p50, q.p99, q.p999][sel];
            let path: Vec<String> = pts.iter().map(|q| format!("{:.1},{:.1}", sx(q.x), sy(val(q)))).collect();
            if path.len() > 1 {
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                    path.join(" "),
                    ser.color
                );
            }
            for q in &pts {
                let fill = if q.saturation { "#fff" } else { ser.color };
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{fill}" stroke="{}" stroke-width="1.5"/>"#,
                    sx(q.x),
                    sy(val(q)),
                    ser.color
                );
            }
        }
        let ly = TOP + PANEL_H + 58.0 + k as f64 * 16.0;
        let _ = writeln!(s, r#"<rect x="{}" y="{}" width="12" height="4" fill="{}"/>"#, x0 + 10.0, ly - 5.0, ser.color);
        let _ = writeln!(s, r#"<text x="{}" y="{ly}">{}</text>"#, x0 + 28.0, esc(&ser.name));
    }
}

fn fmt_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else if v >= 0.1 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_log_axes_lines_and_hollow_saturation_points() {
        let pt = |x: f64, p50: f64, saturation: bool| Point { x, p50, p99: p50 * 5.0, p999: p50 * 9.0, saturation };
        let panels = [Panel {
            title: "single".into(),
            series: vec![
                Series {
                    name: "ktra".into(),
                    color: "#1f77b4",
                    points: vec![pt(5_000.0, 1.0, false), pt(10_000.0, 1.2, false), pt(21_000.0, 2.5, true)],
                },
                Series {
                    name: "ceiling".into(),
                    color: "#ff7f0e",
                    points: vec![pt(5_000.0, 0.2, false), pt(75_000.0, 0.7, true)],
                },
            ],
        }];
        let svg = render("t", "s", &panels);
        if let Ok(path) = std::env::var("KTRA_SVG_PREVIEW") {
            std::fs::write(path, &svg).unwrap_or_default();
        }
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 6, "three percentiles per series");
        assert!(svg.contains(">10k<") && svg.contains(">100k<"), "log x ticks");
        assert!(svg.contains(r##"fill="#fff" stroke="#1f77b4""##), "hollow saturation point");
    }
}
