//! `jlock bench --svg`: the results as one chart, drawn with plotters —
//! ops/s against process count for every counting approach on its smallest
//! document, time per update against document size for the store's modes,
//! elements/s of every push/pop approach, and a legend (outside the plots,
//! so that it covers no point) saying what each approach is.

use std::path::Path;

use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::approach::{Approach, PUSH_POP_SIDE};
use super::Row;

/// Ten distinct colours (matplotlib's tab10), one per approach.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 880;
const GRID: RGBColor = RGBColor(225, 225, 225);
const FONT: &str = "sans-serif";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A log-scaled axis whose ticks are only the values given.
type Axis = WithKeyPoints<LogCoord<f64>>;
/// The two line panels: log-scaled on both axes.
type LogChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// Draws `rows` to an SVG file; `approaches` (every one that ran, in the
/// report's order) fixes each one's colour and the legend's order.
pub fn draw(path: &Path, rows: &[Row], approaches: &[Approach], rounds: usize) -> Result<()> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(34);
    title.draw(&Text::new(
        format!(
            "jlock bench — medians of {rounds} round(s); every result checked \
             (counts exact, each element taken exactly once)"
        ),
        (14, 10),
        (FONT, 17).into_font(),
    ))?;
    let (top, bottom) = body.split_vertically(470);
    let (left, right) = top.split_horizontally(WIDTH / 2);
    let (bars, legend_area) = bottom.split_horizontally(520);
    let colour = |name: &str| {
        let i = approaches
            .iter()
            .position(|a| a.name() == name)
            .unwrap_or(0);
        COLOURS[i % COLOURS.len()]
    };
    let counting: Vec<&Row> = rows.iter().filter(|r| !r.push_pop).collect();
    by_processes(&left, &counting, approaches, &colour)?;
    by_size(&right, &counting, approaches, &colour)?;
    push_pop(&bars, rows, &colour)?;
    legend(&legend_area, approaches, &colour, rounds)?;
    root.present()?;
    Ok(())
}

/// Powers of ten from one at or below `lo` to one at or above `hi`.
fn decades(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let a = lo.max(1e-9).log10().floor() as i32;
    let b = hi.max(lo * 10.0).log10().ceil() as i32;
    let points = (a..=b).map(|k| 10f64.powi(k)).collect();
    (10f64.powi(a), 10f64.powi(b), points)
}

/// A tick label in powers of a thousand: 1, 10, 100, 1k, 10k, 100k, 1M.
pub fn si(x: f64) -> String {
    let (v, unit) = if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let text = if (v - v.round()).abs() < 1e-6 || v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    format!("{text}{unit}")
}

/// A log chart on `area` with `x` ticks at `x_points` and decades on y.
fn log_chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    x: (f64, f64, Vec<f64>),
    y: (f64, f64),
    descs: (&str, &str),
    x_label: &'a dyn Fn(&f64) -> String,
) -> Result<LogChart<'a, 'b>> {
    let (y_lo, y_hi, y_points) = decades(y.0, y.1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (x.0..x.1).log_scale().with_key_points(x.2),
            (y_lo..y_hi).log_scale().with_key_points(y_points),
        )?;
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .x_desc(descs.0)
        .y_desc(descs.1)
        .x_label_formatter(x_label)
        .y_label_formatter(&|v| si(*v))
        .label_style((FONT, 13))
        .draw()?;
    Ok(chart)
}

/// Left: ops/s against processes, on each approach's smallest document.
fn by_processes(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    rows: &[&Row],
    approaches: &[Approach],
    colour: &dyn Fn(&str) -> RGBColor,
) -> Result<()> {
    let mut procs: Vec<usize> = rows.iter().map(|r| r.procs).collect();
    procs.sort_unstable();
    procs.dedup();
    if procs.is_empty() {
        return empty(area, "ops/s by process count: nothing measured");
    }
    let rate = |r: &Row| r.ops_per_sec().max(1.0);
    let lo = rows.iter().map(|r| rate(r)).fold(f64::MAX, f64::min);
    let hi = rows.iter().map(|r| rate(r)).fold(1.0, f64::max);
    let max = *procs.last().unwrap_or(&1) as f64;
    let x_points = procs.iter().map(|&p| p as f64).collect();
    let label = |x: &f64| format!("{x:.0}");
    let mut chart = log_chart(
        area,
        "ops/s by process count (smallest document)",
        (0.8, max * 1.25, x_points),
        (lo, hi),
        ("processes", "ops/s"),
        &label,
    )?;
    for a in approaches.iter().filter(|a| !a.is_push_pop()) {
        let name = a.name();
        let mine: Vec<&&Row> = rows.iter().filter(|r| r.approach == name).collect();
        let Some(min_doc) = mine.iter().map(|r| r.doc_bytes).min() else {
            continue;
        };
        let points: Vec<(f64, f64)> = mine
            .iter()
            .filter(|r| r.doc_bytes == min_doc)
            .map(|r| (r.procs as f64, rate(r)))
            .collect();
        line(&mut chart, colour(&name), &points)?;
    }
    Ok(())
}

/// Right: µs per update against document size, 1 process, sized approaches.
fn by_size(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    rows: &[&Row],
    approaches: &[Approach],
    colour: &dyn Fn(&str) -> RGBColor,
) -> Result<()> {
    let sized: Vec<&&Row> = rows
        .iter()
        .filter(|r| {
            r.procs == 1
                && approaches
                    .iter()
                    .any(|a| a.sized() && a.name() == r.approach)
        })
        .collect();
    if sized.is_empty() {
        return empty(
            area,
            "µs per update by document size: no 1-process store row",
        );
    }
    let us = |r: &Row| 1e6 / r.ops_per_sec().max(1e-9);
    let min_doc = sized.iter().map(|r| r.doc_bytes).min().unwrap_or(1).max(1) as f64;
    let max_doc = sized.iter().map(|r| r.doc_bytes).max().unwrap_or(1).max(1) as f64;
    let (x_lo, x_hi) = (min_doc * 0.7, max_doc * 1.5);
    let x_points = decades(x_lo, x_hi)
        .2
        .into_iter()
        .filter(|&p| p >= x_lo && p <= x_hi)
        .collect();
    let lo = sized.iter().map(|r| us(r)).fold(f64::MAX, f64::min);
    let hi = sized.iter().map(|r| us(r)).fold(1.0, f64::max);
    let label = |x: &f64| si(*x);
    let mut chart = log_chart(
        area,
        "µs per update by document size (1 process)",
        (x_lo, x_hi, x_points),
        (lo, hi),
        ("document bytes", "µs per update"),
        &label,
    )?;
    for a in approaches.iter().filter(|a| a.sized()) {
        let name = a.name();
        let points: Vec<(f64, f64)> = sized
            .iter()
            .filter(|r| r.approach == name)
            .map(|r| (r.doc_bytes.max(1) as f64, us(r)))
            .collect();
        if !points.is_empty() {
            line(&mut chart, colour(&name), &points)?;
        }
    }
    Ok(())
}

/// One approach's line, with dots at the measurements.
fn line(chart: &mut LogChart<'_, '_>, colour: RGBColor, points: &[(f64, f64)]) -> Result<()> {
    chart.draw_series(LineSeries::new(points.to_vec(), colour.stroke_width(2)))?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    Ok(())
}

/// Bottom left: elements/s of each push/pop approach, one bar each.
fn push_pop(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    rows: &[Row],
    colour: &dyn Fn(&str) -> RGBColor,
) -> Result<()> {
    let bars: Vec<&Row> = rows.iter().filter(|r| r.push_pop).collect();
    let caption =
        format!("push/pop: elements/s, {PUSH_POP_SIDE} producers + {PUSH_POP_SIDE} consumers");
    if bars.is_empty() {
        return empty(area, &format!("{caption}: not measured"));
    }
    let rate = |r: &Row| r.ops_per_sec().max(1.0);
    let lo = bars.iter().map(|r| rate(r)).fold(f64::MAX, f64::min);
    let hi = bars.iter().map(|r| rate(r)).fold(1.0, f64::max);
    let (x_lo, x_hi, x_points) = decades(lo / 3.0, hi * 3.0);
    let n = bars.len();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(14)
        .build_cartesian_2d(
            (x_lo..x_hi).log_scale().with_key_points(x_points),
            -0.6f64..n as f64 - 0.4,
        )?;
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("elements/s (each element pushed once and popped once)")
        .x_label_formatter(&|v| si(*v))
        .label_style((FONT, 13))
        .draw()?;
    // The first row on top; each bar's name above it, its rate at its end.
    for (i, r) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64 - 0.12;
        let c = colour(&r.approach);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x_lo, y - 0.2), (rate(r), y + 0.2)],
            c.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!(" {}/s", si(rate(r))),
            (rate(r), y + 0.1),
            (FONT, 13).into_font(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!(" {} ({} elements, {:.2} s)", r.approach, r.ops, r.seconds),
            (x_lo, y + 0.48),
            (FONT, 13).into_font(),
        )))?;
    }
    Ok(())
}

/// Bottom right: each approach's colour, name and one line on what it
/// is, then what the panels show.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    approaches: &[Approach],
    colour: &dyn Fn(&str) -> RGBColor,
    rounds: usize,
) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Rectangle::new(
        [(4, 14), (w as i32 - 12, h as i32 - 10)],
        RGBColor(160, 160, 160).stroke_width(1),
    ))?;
    area.draw(&Text::new(
        "what each approach is",
        (18, 24),
        (FONT, 15).into_font(),
    ))?;
    let name_font = (FONT, 13).into_font();
    let note_font = (FONT, 12).into_font().color(&RGBColor(70, 70, 70));
    for (i, a) in approaches.iter().enumerate() {
        let y = 56 + 22 * i as i32;
        let c = colour(&a.name());
        if a.is_push_pop() {
            area.draw(&Rectangle::new([(18, y - 5), (38, y + 5)], c.filled()))?;
        } else {
            area.draw(&PathElement::new(vec![(18, y), (38, y)], c.stroke_width(2)))?;
            area.draw(&Circle::new((28, y), 3, c.filled()))?;
        }
        area.draw(&Text::new(a.name(), (46, y - 7), name_font.clone()))?;
        area.draw(&Text::new(a.explain(), (172, y - 6), note_font.clone()))?;
    }
    let notes = [
        "an op: take the lock, read the count, add 1, write it back, unlock; \
         an element: one push and one pop"
            .to_string(),
        "top left: each approach on its smallest document; top right: 1 process; \
         all axes log-scaled"
            .to_string(),
        format!(
            "each point the median of {rounds} round(s); the figures: `jlock bench` \
             (or --json); jlock bench --help: ops per measurement"
        ),
    ];
    let top = 56 + 22 * approaches.len() as i32 + 8;
    for (i, note) in notes.iter().enumerate() {
        area.draw(&Text::new(
            note.clone(),
            (18, top + 18 * i as i32),
            note_font.clone(),
        ))?;
    }
    Ok(())
}

fn empty(area: &DrawingArea<SVGBackend<'_>, Shift>, what: &str) -> Result<()> {
    area.draw(&Text::new(
        what.to_string(),
        (20, 40),
        (FONT, 15).into_font(),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_powers_of_ten() {
        let labels: Vec<String> = decades(2.0, 1048574.0).2.into_iter().map(si).collect();
        assert_eq!(labels, ["1", "10", "100", "1k", "10k", "100k", "1M", "10M"]);
        assert_eq!(si(2500.0), "2.5k");
    }
}
