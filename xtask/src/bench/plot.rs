//! The latency-vs-offered-load plot (`docs/bench-latency.svg`), drawn with
//! `plotters`' SVG backend from the results document: one panel per request
//! shape, x = offered load in events/s (closed-loop saturation points at
//! their achieved rate, drawn hollow), both axes on log scales; p50 dashed,
//! p99 solid, p99.9 dotted; one colour per system. Text is left to the
//! viewer's fonts (SVG `<text>`), so no font library is linked.
use super::results::Results;
use anyhow::{anyhow, Result};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// One system in a panel: legend, colour, and the end-to-end tags it plots.
struct Line {
    name: &'static str,
    color: RGBColor,
    tags: &'static [&'static str],
}

const DISK: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const MEMORY: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const CEILING: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
const GREY: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// The panels: (title, systems).
const PANELS: &[(&str, &[Line])] = &[
    (
        "single-event POSTs",
        &[
            Line { name: "ktra, disk durability (default)", color: DISK, tags: &["d1r25", "d1r50", "d1r75", "d1s"] },
            Line { name: "ktra, memory durability", color: MEMORY, tags: &["m1r50", "m1s"] },
            Line { name: "parse-and-discard ceiling", color: CEILING, tags: &["c1r25", "c1r50", "c1r75", "c1s"] },
        ],
    ),
    (
        "batched POSTs (20 events each)",
        &[
            Line {
                name: "ktra, disk durability (default)",
                color: DISK,
                tags: &["d20r25", "d20r50", "d20r75", "d20s"],
            },
            Line { name: "ktra, memory durability", color: MEMORY, tags: &["m20s"] },
            Line { name: "parse-and-discard ceiling", color: CEILING, tags: &["c20s"] },
        ],
    ),
];

/// Percentile lines: (measure figure, legend, dash length, gap); dash 0 = solid.
const PERCENTILES: &[(&str, &str, u32, u32)] =
    &[("p50_ms", "p50", 6, 4), ("p99_ms", "p99", 0, 0), ("p999_ms", "p99.9", 2, 3)];

const SIZE: (u32, u32) = (1200, 620);

/// A plotted point: x (events/s), one y per [`PERCENTILES`] entry (ms), saturation.
struct Point {
    x: f64,
    y: Vec<f64>,
    saturation: bool,
}

fn points(r: &Results, tags: &[&str]) -> Vec<Point> {
    let mut pts: Vec<Point> = tags
        .iter()
        .filter_map(|t| {
            let p = r.phase(t)?;
            let x = match r.of(t, "offered_rps") {
                Some(rate) => rate * p.events as f64,
                None => r.of(t, "eps")?,
            };
            let y = PERCENTILES.iter().map(|(f, ..)| r.of(t, f)).collect::<Option<Vec<_>>>()?;
            Some(Point { x, y, saturation: p.load_pct.is_none() })
        })
        .filter(|p| p.x > 0.0)
        .collect();
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    pts
}

/// The decades enclosing `values` (at least one decade wide).
fn decades(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| *v > 0.0).fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() {
        return fallback;
    }
    let lo = 10f64.powf(lo.log10().floor());
    (lo, 10f64.powf(hi.max(lo * 10.0).log10().ceil()))
}

fn fmt_ms(v: f64) -> String {
    match v {
        v if v >= 1.0 => format!("{v:.0}"),
        v if v >= 0.1 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

fn fmt_rate(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.0}M", v / 1e6),
        v if v >= 1e3 => format!("{:.0}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// Renders the plot as an SVG document.
pub fn render(r: &Results, subtitle: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (head, rest) = root.split_vertically(64);
        let (body, foot) = rest.split_vertically(SIZE.1 - 64 - 36);
        let centre = (SIZE.0 as i32 / 2, 0);
        let title = ("sans-serif", 20).into_font().style(FontStyle::Bold).color(&BLACK);
        let note = ("sans-serif", 13).into_font().color(&GREY);
        let centred = |s: TextStyle<'static>| {
            s.pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ))
        };
        head.draw(&Text::new("ktra collector: latency vs offered load", (centre.0, 10), centred(title)))
            .map_err(|e| anyhow!("{e}"))?;
        head.draw(&Text::new(subtitle.to_owned(), (centre.0, 38), centred(note))).map_err(|e| anyhow!("{e}"))?;
        for (area, (title, lines)) in body.split_evenly((1, PANELS.len())).iter().zip(PANELS) {
            panel(area, title, lines, r)?;
        }
        legend(&foot)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(svg)
}

fn style(color: RGBColor) -> ShapeStyle {
    ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 2 }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    lines: &[Line],
    r: &Results,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let series: Vec<(&Line, Vec<Point>)> = lines.iter().map(|l| (l, points(r, l.tags))).collect();
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    let (xlo, xhi) = decades(all().map(|p| p.x), (1e3, 1e5));
    let (ylo, yhi) = decades(all().flat_map(|p| p.y.iter().copied()), (0.1, 10.0));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16).into_font().style(FontStyle::Bold))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        // A hair wider than the decades, so that their own ticks are labelled.
        .build_cartesian_2d((xlo * 0.999..xhi * 1.001).log_scale(), (ylo * 0.999..yhi * 1.001).log_scale())
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("offered load (events/s, log)")
        .y_desc("latency (ms, log)")
        .x_label_formatter(&|v| fmt_rate(*v))
        .y_label_formatter(&|v| fmt_ms(*v))
        .label_style(("sans-serif", 12))
        .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
        .bold_line_style(RGBColor(0xd0, 0xd0, 0xd0))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (line, pts) in &series {
        for (i, &(_, _, dash, gap)) in PERCENTILES.iter().enumerate() {
            let xy: Vec<(f64, f64)> = pts.iter().map(|p| (p.x, p.y[i])).collect();
            if dash == 0 {
                let drawn =
                    chart.draw_series(LineSeries::new(xy.clone(), style(line.color))).map_err(|e| anyhow!("{e}"))?;
                let color = line.color;
                drawn
                    .label(line.name)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 3), (x + 16, y + 3)], color.filled()));
            } else {
                chart
                    .draw_series(DashedLineSeries::new(xy.clone(), dash, gap, style(line.color)))
                    .map_err(|e| anyhow!("{e}"))?;
            }
            // Open-loop points filled, closed-loop saturation hollow.
            chart
                .draw_series(pts.iter().zip(&xy).map(|(p, &c)| {
                    let fill = if p.saturation { WHITE.filled() } else { line.color.filled() };
                    EmptyElement::at(c)
                        + Circle::new((0, 0), 4, fill)
                        + Circle::new((0, 0), 4, style(line.color).stroke_width(1))
                }))
                .map_err(|e| anyhow!("{e}"))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xbb, 0xbb, 0xbb))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// The line-style and marker legend under the panels.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let text = ("sans-serif", 13).into_font().color(&BLACK);
    let ink = style(RGBColor(0x33, 0x33, 0x33));
    let y = 14;
    let mut x = 80;
    for &(_, name, dash, gap) in PERCENTILES {
        let seg = vec![(x, y), (x + 34, y)];
        if dash == 0 {
            area.draw(&PathElement::new(seg, ink)).map_err(|e| anyhow!("{e}"))?;
        } else {
            area.draw(&DashedPathElement::new(seg, dash, gap, ink)).map_err(|e| anyhow!("{e}"))?;
        }
        area.draw(&Text::new(name, (x + 40, y - 7), text.clone())).map_err(|e| anyhow!("{e}"))?;
        x += 120;
    }
    area.draw(
        &(EmptyElement::at((x + 4, y))
            + Circle::new((0, 0), 4, WHITE.filled())
            + Circle::new((0, 0), 4, ink.stroke_width(1))),
    )
    .map_err(|e| anyhow!("{e}"))?;
    area.draw(&Text::new(
        "closed-loop saturation (x = achieved rate); filled: open loop at the offered rate",
        (x + 14, y - 7),
        text,
    ))
    .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::results::{Direction, PhaseInfo, Results};
    use super::*;

    #[test]
    fn plots_every_system_with_log_axes_and_hollow_saturation_points() {
        let mut r = Results::default();
        for (tag, events, pct, x, p50) in
            [("d1r50", 1, Some(50), 5_000.0, 1.0), ("d1s", 1, None, 21_000.0, 2.5), ("c1s", 1, None, 75_000.0, 0.7)]
        {
            r.phases.push(PhaseInfo { tag: tag.into(), system: "s".into(), events, load_pct: pct });
            let fig = if pct.is_some() { "offered_rps" } else { "eps" };
            r.put(format!("e2e.{tag}.{fig}"), x, "req/s", Direction::None);
            for (f, k) in [("p50_ms", 1.0), ("p99_ms", 5.0), ("p999_ms", 9.0)] {
                r.put(format!("e2e.{tag}.{f}"), p50 * k, "ms", Direction::LowerIsBetter);
            }
        }
        let svg = render(&r, "subtitle").unwrap_or_default();
        if let Ok(path) = std::env::var("KTRA_SVG_PREVIEW") {
            std::fs::write(path, &svg).unwrap_or_default();
        }
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("ktra, disk durability (default)") && svg.contains("parse-and-discard ceiling"));
        assert!(svg.contains(">\n10k\n<") || svg.contains(">10k<"), "log x ticks: {svg}");
        assert!(svg.contains(r##"fill="#FFFFFF""##), "hollow saturation point");
    }
}
