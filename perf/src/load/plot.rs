//! Latency against throughput, one curve per sweep ([`SweepReport`]), as an SVG file:
//! `ringscan-perf plot`, and the plot `sweep` writes.
//!
//! Several sweeps on the same axes are the point (ringscan and clamd, one size): x is
//! the achieved rate, y the latency from the intended send on a log scale, so the
//! flat part and the knee where queueing starts both stay readable. Per sweep, one
//! colour: p50 a solid line with dots, p99 a dashed line with triangles, the maximum
//! small crosses.
//!
//! SVG only: text in an SVG is drawn by whatever opens it, so plotters needs no font
//! here; a PNG needs a TTF font found at run time and the `ttf` feature pulls in system
//! font libraries (fontconfig, freetype) that a fresh machine may lack.

use std::path::{Path, PathBuf};

use plotters::backend::SVGBackend;
use plotters::prelude::*;

use super::open_summary::size_label;
use super::sweep::{SweepPoint, SweepReport};
use super::util::read_json;

/// Arguments of `ringscan-perf plot`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The chart's title.
    #[arg(long, default_value = "latency against throughput")]
    pub title: String,
    /// The SVG file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Sweep reports (`<label>-sweep.json` from `ringscan-perf sweep`), drawn together.
    #[arg(required = true, value_name = "SWEEP.json")]
    pub reports: Vec<PathBuf>,
}

/// Dark, distinct colours that read on white; they repeat after the last.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(255, 127, 14),
];

/// `label: latency against throughput (target, mode, N connections, size)`: the title
/// `sweep` gives its own plot.
pub fn title_of(r: &SweepReport) -> String {
    format!(
        "{}: latency against throughput ({} {}, {} connections, {} objects)",
        r.label,
        r.target,
        r.mode,
        r.connections,
        size_label(r.object_bytes)
    )
}

/// The points in the order of their offered rate, those with latency samples only
/// (a point that got no right answer has no latency to put on a log axis).
fn drawn(r: &SweepReport) -> Vec<&SweepPoint> {
    let mut v: Vec<&SweepPoint> = r.points.iter().filter(|p| p.latency_ms.count > 0).collect();
    v.sort_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
    v
}

/// `(x, y)` pairs of one percentile, positive only (the y axis is logarithmic).
fn series(points: &[&SweepPoint], y: impl Fn(&SweepPoint) -> f64) -> Vec<(f64, f64)> {
    points
        .iter()
        .map(|p| (p.achieved_rate, y(p)))
        .filter(|&(_, v)| v > 0.0 && v.is_finite())
        .collect()
}

/// The axes: x from 0 past the largest rate; y from the power of ten below every
/// latency drawn to the one above, so both ends of the log axis carry a label.
fn bounds(all: &[Vec<&SweepPoint>]) -> Result<(f64, f64, f64), String> {
    let pts = || all.iter().flatten();
    let x_max = pts()
        .map(|p| p.achieved_rate.max(p.offered_rate))
        .fold(0.0, f64::max);
    let ys = pts()
        .flat_map(|p| [p.latency_ms.p50, p.latency_ms.p99, p.latency_ms.max])
        .filter(|v| *v > 0.0 && v.is_finite());
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return Err("nothing to plot: no point has latency samples".into());
    }
    // A little room first, so that a point on a power of ten is not on the frame.
    let lo = 10f64.powf((lo / 1.2).log10().floor());
    let hi = 10f64.powf((hi * 1.2).log10().ceil());
    // Just past the powers of ten: plotters finds its ticks by rounding logarithms, and
    // log10(0.1) is a hair above -1, which would lose the 0.1 tick.
    Ok((
        if x_max > 0.0 { x_max * 1.08 } else { 1.0 },
        lo * 0.999,
        hi * 1.001,
    ))
}

/// A tick label in ms: `0.1`, `2.5`, `10`, without trailing zeros.
fn ms(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The chart as SVG text.
pub fn svg(reports: &[&SweepReport], title: &str) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Display| format!("plot: {e}");
    let points: Vec<Vec<&SweepPoint>> = reports.iter().map(|r| drawn(r)).collect();
    let (x_max, y_lo, y_hi) = bounds(&points)?;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (1100, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, (y_lo..y_hi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("achieved requests/s")
            .y_desc("latency from intended send, ms (log)")
            .y_label_formatter(&|v| ms(*v))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, (r, pts)) in reports.iter().zip(&points).enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            let line = c.stroke_width(2);
            let p50 = series(pts, |p| p.latency_ms.p50);
            let p99 = series(pts, |p| p.latency_ms.p99);
            let max = series(pts, |p| p.latency_ms.max);
            chart
                .draw_series(LineSeries::new(p50, line).point_size(4))
                .map_err(|e| err(&e))?
                .label(format!("{} p50", r.label))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], line));
            chart
                .draw_series(DashedLineSeries::new(p99.clone(), 8, 5, line))
                .map_err(|e| err(&e))?
                .label(format!("{} p99", r.label))
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (9, 0)], line)
                        + PathElement::new(vec![(15, 0), (24, 0)], line)
                });
            chart
                .draw_series(p99.iter().map(|&p| TriangleMarker::new(p, 5, c.filled())))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(max.iter().map(|&p| Cross::new(p, 4, c.stroke_width(1))))
                .map_err(|e| err(&e))?
                .label(format!("{} max", r.label))
                .legend(move |(x, y)| Cross::new((x + 12, y), 4, c.stroke_width(1)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}

/// Draws `series` together into the SVG file `out` (its directory created).
pub fn latency_vs_throughput(
    series: &[&SweepReport],
    title: &str,
    out: &Path,
) -> Result<(), String> {
    let text = svg(series, title)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))
}

/// `ringscan-perf plot`.
pub fn main(args: &Args) -> Result<(), String> {
    let reports: Vec<SweepReport> = args
        .reports
        .iter()
        .map(|p| read_json(p))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&SweepReport> = reports.iter().collect();
    latency_vs_throughput(&refs, &args.title, &args.out)?;
    eprintln!(
        "ringscan-perf: {} sweeps drawn into {}",
        reports.len(),
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::recorder::Latency;

    /// A sweep whose latency grows with the load as `base` x (1, 2, 8).
    fn report(label: &str, max: f64, base: f64) -> SweepReport {
        let points = [(25.0, 1.0), (50.0, 2.0), (100.0, 8.0)]
            .iter()
            .map(|&(load, k)| SweepPoint {
                load_pct: load,
                offered_rate: max * load / 100.0,
                achieved_rate: max * load / 100.0 * 0.99,
                latency_ms: Latency {
                    count: 100,
                    p50: base * k,
                    p99: base * k * 3.0,
                    max: base * k * 10.0,
                    ..Latency::default()
                },
                ..SweepPoint::default()
            })
            .collect();
        SweepReport {
            label: label.into(),
            points,
            ..SweepReport::default()
        }
    }

    #[test]
    fn two_sweeps_on_one_chart() {
        let a = report("ringscan-4k", 20000.0, 0.2);
        let b = report("clamd-4k", 3000.0, 1.5);
        let out = std::env::temp_dir()
            .join(format!("ringscan-perf-plot-{}", std::process::id()))
            .join("both.svg");
        latency_vs_throughput(&[&a, &b], "4 KiB objects", &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.trim_start().starts_with("<svg"), "{}", &text[..80]);
        assert!(text.trim_end().ends_with("</svg>"));
        for label in [
            "ringscan-4k p50",
            "ringscan-4k p99",
            "clamd-4k p50",
            "clamd-4k max",
        ] {
            assert!(text.contains(label), "{label} missing");
        }
        assert!(text.contains("4 KiB objects"));
        assert!(text.contains("achieved requests/s"));
        // Two solid p50 lines at least (the legend adds more), and the dashes.
        assert!(text.matches("<polyline").count() >= 2 + 2, "no lines drawn");
        let _ = std::fs::remove_dir_all(out.parent().unwrap());
    }

    #[test]
    fn points_without_samples_are_left_out() {
        let mut a = report("a", 1000.0, 1.0);
        // A point that got no right answer: zero latency, which a log axis cannot show.
        a.points.push(SweepPoint {
            load_pct: 150.0,
            offered_rate: 1500.0,
            ..SweepPoint::default()
        });
        assert_eq!(drawn(&a).len(), 3);
        let (x_max, lo, hi) = bounds(&[drawn(&a)]).unwrap();
        assert!(
            x_max >= 1000.0 && lo > 0.0 && lo < 1.0 && hi > 80.0,
            "{x_max} {lo} {hi}"
        );
        // Both ends of the log axis are labelled.
        let text = svg(&[&a], "t").unwrap();
        for tick in ["0.1", "1", "10", "100"] {
            assert!(
                text.contains(&format!(">\n{tick}\n</text>")),
                "no tick {tick}"
            );
        }
        // Nothing at all to draw is an error, not an empty chart.
        let empty = SweepReport {
            label: "e".into(),
            ..SweepReport::default()
        };
        assert!(svg(&[&empty], "t").is_err());
    }
}
